using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using NUnit.Framework;

namespace NativePools.Tests.Support;

/// <summary>
/// The test assembly's entry point, used only for child processes: <c>dotnet NativePools.Tests.dll
/// child ROLE ARGS...</c> runs one registered role and exits with its code. A test that must
/// survive what it checks (a crash would abort the whole test run) runs the check in a child
/// and asserts on the child's exit code and output.
/// </summary>
public static class ChildProcessMain
{
    /// <summary>Roles by name: each gets its arguments and returns the exit code.</summary>
    private static readonly Dictionary<string, Func<string[], int>> Roles = new()
    {
        ["core-closed-client"] = Ipc.CoreIpcClosedObjects.ClosedClient,
        ["core-disposed-server"] = Ipc.CoreIpcClosedObjects.DisposedServer,
        ["core-start-without-descriptors"] = Native.IpcStartWithoutDescriptors.ChildBody,
    };

    public static int Main(string[] args)
    {
        if (args.Length < 2 || args[0] != "child" || !Roles.TryGetValue(args[1], out var role))
        {
            Console.Error.WriteLine("usage: dotnet NativePools.Tests.dll child ROLE ARGS... (this assembly holds NUnit tests: run them with dotnet test)");
            return 64;
        }
        return role(args[2..]);
    }

    /// <summary>The result of one finished child.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr, bool TimedOut)
    {
        public override string ToString() =>
            $"exit {(TimedOut ? "<killed: timed out>" : ExitCode.ToString())}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>Runs a role of this assembly in a new process and waits for it (killing it after <paramref name="limit"/>).</summary>
    public static Result Run(string role, string[] args, TimeSpan limit)
    {
        string assembly = typeof(ChildProcessMain).Assembly.Location;
        var info = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(assembly);
        info.ArgumentList.Add("child");
        info.ArgumentList.Add(role);
        foreach (string a in args) info.ArgumentList.Add(a);
        using Process process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + info.FileName);
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool exited = process.WaitForExit(limit);
        if (!exited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
        lock (stdout) lock (stderr) return new Result(exited ? process.ExitCode : -1, stdout.ToString(), stderr.ToString(), !exited);
    }

    /// <summary>The dotnet host running these tests (the SDK exports DOTNET_HOST_PATH to its children).</summary>
    private static string DotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet") return self;
        return "dotnet";
    }

    /// <summary>Fails the test with the child's output unless it exited with 0.</summary>
    public static void AssertSucceeded(Result result, string what) =>
        Assert.That(result.ExitCode, Is.Zero, $"{what}: the child process failed\n{result}");
}
