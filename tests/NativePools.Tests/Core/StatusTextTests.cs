using System;
using System.Collections.Generic;
using System.Threading;
using NativePools.Diagnostics;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>S16 (core): every status has its own name and message; the last error is per thread.</summary>
public sealed class StatusTextTests
{
    [Test]
    public void S16_EveryStatus_HasItsOwnNameAndMessage()
    {
        var names = new HashSet<string>();
        var messages = new HashSet<string>();
        for (int code = 0; code >= StatusText.MinStatus; code--)
        {
            string name = StatusText.NameString((NpStatus)code);
            string message = System.Text.Encoding.UTF8.GetString(StatusText.Message((NpStatus)code));
            Assert.That(name, Does.StartWith(code == 0 ? "NP_OK" : "NP_E_"), $"name of {code}");
            Assert.That(name, Is.Not.EqualTo("NP_E_UNKNOWN"), $"status {code} is defined");
            Assert.That(names.Add(name), Is.True, $"name '{name}' of {code} is unique");
            Assert.That(messages.Add(message), Is.True, $"message '{message}' of {code} is unique");
        }
        Assert.That(names, Has.Count.EqualTo(27), "NP_OK and 26 errors");
        Assert.That(StatusText.NameString(NpStatus.DoubleFree), Is.EqualTo("NP_E_DOUBLE_FREE"));
        Assert.That(StatusText.NameString(NpStatus.UnsupportedStructSize), Is.EqualTo("NP_E_UNSUPPORTED_STRUCT_SIZE"));
        foreach (int unknown in new[] { 1, StatusText.MinStatus - 1, int.MinValue, int.MaxValue })
            Assert.That(StatusText.NameString((NpStatus)unknown), Is.EqualTo("NP_E_UNKNOWN"), $"code {unknown}");
    }

    [Test]
    public unsafe void S16_StatusTextPointers_AreNulTerminated()
    {
        for (int code = 1; code >= StatusText.MinStatus - 1; code--)
        {
            ReadOnlySpan<byte> name = StatusText.Name((NpStatus)code);
            byte* pointer = StatusText.Pointer(name);
            Assert.That(pointer[name.Length], Is.EqualTo((byte)0), $"NUL after the name of {code}");
            ReadOnlySpan<byte> message = StatusText.Message((NpStatus)code);
            Assert.That(StatusText.Pointer(message)[message.Length], Is.EqualTo((byte)0), $"NUL after the message of {code}");
        }
    }

    [Test]
    public void S16_LastError_IsPerThread_AndFormatsItsArguments()
    {
        LastError.Clear();
        Assert.That(LastError.Status, Is.EqualTo(NpStatus.Ok));
        Assert.That(LastError.Message, Is.Empty);
        LastError.Set(NpStatus.InteriorPointer, "pointer {x0} is {1} bytes into '{s}'", 0x1f0, 16, "alpha");
        NpStatus otherStatus = NpStatus.Internal;
        string otherMessage = "unset";
        var thread = new Thread(() => { otherStatus = LastError.Status; otherMessage = LastError.Message; });
        thread.Start();
        thread.Join();
        Assert.Multiple(() =>
        {
            Assert.That(LastError.Status, Is.EqualTo(NpStatus.InteriorPointer));
            Assert.That(LastError.Message, Is.EqualTo("pointer 0x1f0 is 16 bytes into 'alpha'"));
            Assert.That(otherStatus, Is.EqualTo(NpStatus.Ok), "another thread has its own last error");
            Assert.That(otherMessage, Is.Empty);
        });
        LastError.Clear();
        Assert.That(LastError.Status, Is.EqualTo(NpStatus.Ok));
    }

    [Test]
    public void Detail_prints_unsigned_values_unsigned_and_signed_values_signed()
    {
        LastError.Set(NpStatus.InvalidArgument, "max_blocks {0} exceeds {1}", ulong.MaxValue, 2147483646UL);
        Assert.That(LastError.Message, Is.EqualTo("max_blocks 18446744073709551615 exceeds 2147483646"));
        LastError.Set(NpStatus.PoolExhausted, "cannot reserve {0} blocks, at most {1}", 1UL << 63, (nuint)5);
        Assert.That(LastError.Message, Is.EqualTo("cannot reserve 9223372036854775808 blocks, at most 5"));
        LastError.Set(NpStatus.IoError, "errno {0}, offset {1}", -1, -2L);
        Assert.That(LastError.Message, Is.EqualTo("errno -1, offset -2"));
        LastError.Set(NpStatus.InvalidHandle, "{x0} is not a live handle", ulong.MaxValue);
        Assert.That(LastError.Message, Is.EqualTo("0xffffffffffffffff is not a live handle"));
        LastError.Clear();
    }

    [Test]
    public void Save_and_restore_bring_back_an_earlier_failure()
    {
        LastError.Set(NpStatus.ForeignPointer, "pointer {x0} does not belong to pool '{s}'", (nint)0x40, subject: "first");
        LastErrorRecord first = LastError.Save();
        LastError.Set(NpStatus.DoubleFree, "block {x0} of pool '{s}' is not allocated", (nint)0x80, subject: "second");
        LastError.Restore(first);
        Assert.That(LastError.Status, Is.EqualTo(NpStatus.ForeignPointer));
        Assert.That(LastError.Message, Is.EqualTo("pointer 0x40 does not belong to pool 'first'"));
        LastError.Clear();
    }
}
