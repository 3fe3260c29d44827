using NativePools.Tests.Messages;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// The message pool scenarios through P/Invoke against the built library, from CoreCLR threads
/// (foreign threads to the library's runtime). In the Native namespace so NativeSetup loads the
/// library first.
/// </summary>
[TestFixture]
public sealed class NativeMessagePoolScenarios : MessagePoolScenarios
{
    protected override IMessagePoolBackend Backend => NativeMessageBackend.Instance;
}
