using System;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// Loads the built library once before any test in this namespace. When the file is missing
/// every Native test fails with the message below (OneTimeSetUp failures fail the children):
/// the build always produces the library before the tests run, so its absence is an error.
/// </summary>
[SetUpFixture]
public sealed class NativeSetup
{
    [OneTimeSetUp]
    public void LoadLibrary()
    {
        try
        {
            NativeApi.EnsureLoaded();
        }
        catch (DllNotFoundException e)
        {
            Assert.Fail($"libnativepools is not available: {e.Message}");
        }
    }
}
