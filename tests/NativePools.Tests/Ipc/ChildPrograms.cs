using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NativePools.Tests.Ipc;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// Two small C programs, compiled with gcc at test time against native-headers/nativepools.h
/// and the built library, run as child processes: a client (checksummed "sum" calls, or one
/// call that blocks forever on the "stall" pull route) and a server ("sum" handler in C,
/// "stall" pull route whose requests it takes and never answers). They print what they do,
/// line by line, so the tests can wait for real events instead of sleeping. Both ask the
/// kernel to kill them when the test process dies (PR_SET_PDEATHSIG).
/// </summary>
public static class ChildPrograms
{
    // The same payload and checksum functions as IpcTest.Fill and IpcTest.Fnv64.
    private const string Common = """
        #define _GNU_SOURCE
        #include <poll.h>
        #include <signal.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/prctl.h>
        #include <unistd.h>
        #include "nativepools.h"

        static uint64_t fnv64(const uint8_t* p, uint32_t n) {
            uint64_t h = 0xCBF29CE484222325ULL;
            for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ULL;
            return h;
        }

        static __attribute__((unused)) void fill(uint8_t* p, uint32_t n, uint64_t seed) {
            uint64_t x = seed * 0x9E3779B97F4A7C15ULL | 1;
            for (uint32_t i = 0; i < n; i++) {
                x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
                p[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
            }
        }

        static void say(const char* format, ...) __attribute__((format(printf, 1, 2)));
        #include <stdarg.h>
        static void say(const char* format, ...) {
            va_list args;
            va_start(args, format);
            vprintf(format, args);
            va_end(args);
            putchar('\n');
            fflush(stdout);
        }

        static void die(const char* what, np_status status) {
            char detail[512];
            np_last_error_message(detail, sizeof detail);
            say("FAIL %s: %s (%s)", what, np_status_name(status), detail);
            exit(3);
        }

        /* True once the parent closed our stdin (the signal to finish cleanly). */
        static int stdin_closed(void) {
            struct pollfd p = { 0, POLLIN, 0 };
            if (poll(&p, 1, 0) <= 0) return 0;
            char c;
            return read(0, &c, 1) == 0;
        }
        """;

    private const string ClientSource = Common + """

        /* np_ipc_client calls ADDRESS COUNT SEED MAXSIZE: COUNT checksummed calls ("ok N" at the end; COUNT 0: until stdin closes).
           np_ipc_client stall ADDRESS: one call on "stall" that nobody answers; prints "calling" first. */
        int main(int argc, char** argv) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (argc < 3) { say("usage"); return 64; }
            np_client client;
            np_status s = np_client_connect(argv[2], 10000, &client);
            if (s != NP_OK) die("connect", s);
            say("connected");
            uint32_t max;
            np_client_max_message_size(client, &max);
            uint8_t* request = malloc(max);
            uint8_t* response = malloc(max);
            if (strcmp(argv[1], "stall") == 0) {
                uint32_t stall, length;
                if ((s = np_client_resolve(client, "stall", &stall)) != NP_OK) die("resolve stall", s);
                request[0] = 'x';
                say("calling");
                s = np_client_call(client, stall, request, 1, response, max, &length, NP_WAIT_FOREVER);
                say("returned %s", np_status_name(s));
                return 4;
            }
            long count = atol(argv[3]);
            uint64_t seed = strtoull(argv[4], NULL, 10);
            uint32_t max_size = (uint32_t)atol(argv[5]);
            uint32_t sum;
            if ((s = np_client_resolve(client, "sum", &sum)) != NP_OK) die("resolve sum", s);
            uint64_t x = seed + 1, bytes = 0;
            long i;
            for (i = 0; count == 0 || i < count; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                uint32_t size = (uint32_t)(x % (max_size + 1)), length = 0;
                fill(request, size, seed * 1000003ULL + (uint64_t)i);
                s = np_client_call(client, sum, request, size, response, max, &length, 60000);
                if (s != NP_OK) { say("FAIL call %ld of %u bytes: %s", i, size, np_status_name(s)); return 3; }
                uint64_t h;
                memcpy(&h, response + size, 8);
                if (length != size + 8 || memcmp(request, response, size) != 0 || h != fnv64(request, size)) {
                    say("FAIL call %ld: wrong answer (%u bytes for %u)", i, length, size);
                    return 2;
                }
                bytes += size;
                if (i % 500 == 499) {
                    say("progress %ld", i + 1);
                    if (count == 0 && stdin_closed()) { i++; break; }
                }
            }
            np_client_close(client);
            say("ok %ld calls %llu bytes", i, (unsigned long long)bytes);
            return 0;
        }
        """;

    private const string ServerSource = Common + """

        static np_status sum_handler(void* user, uint32_t route, const uint8_t* request, uint32_t length,
                                     uint8_t* response, uint32_t capacity, uint32_t* response_length) {
            (void)user; (void)route;
            if ((uint64_t)length + 8 > capacity) { *response_length = 0; return NP_E_BUFFER_TOO_SMALL; }
            memcpy(response, request, length);
            uint64_t h = fnv64(request, length);
            memcpy(response + length, &h, 8);
            *response_length = length + 8;
            return NP_OK;
        }

        /* np_ipc_server ADDRESS WORKERS: "sum" (C handler) and "stall" (pull, taken and never answered,
           "stalled N" per request). Prints "ready" once listening; stops cleanly when stdin closes. */
        int main(int argc, char** argv) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (argc < 3) { say("usage"); return 64; }
            np_server_options o;
            np_server_options_init(&o);
            o.address = argv[1];
            o.worker_threads = (uint32_t)atoi(argv[2]);
            o.max_message_size = 65536;
            np_server server;
            uint32_t sum, stall;
            np_status s;
            if ((s = np_server_create(&o, &server)) != NP_OK) die("create", s);
            if ((s = np_server_add_route(server, "sum", sum_handler, NULL, &sum)) != NP_OK) die("add sum", s);
            if ((s = np_server_add_route(server, "stall", NULL, NULL, &stall)) != NP_OK) die("add stall", s);
            if ((s = np_server_start(server)) != NP_OK) die("start", s);
            say("ready");
            long stalled = 0;
            while (!stdin_closed()) {
                np_request r;
                memset(&r, 0, sizeof r);
                r.struct_size = sizeof r;
                s = np_server_receive(server, 100, &r);
                if (s == NP_OK) say("stalled %ld", ++stalled);
                else if (s != NP_E_TIMEOUT) die("receive", s);
            }
            np_server_stop(server, 0);
            np_server_stats stats;
            memset(&stats, 0, sizeof stats);
            stats.struct_size = sizeof stats;
            np_server_get_stats(server, &stats);
            np_server_destroy(server);
            say("stopped requests %llu", (unsigned long long)stats.requests);
            return 0;
        }
        """;

    private static readonly Lazy<string> Directory_ = new(Build);

    /// <summary>Path of the client program (built on first use).</summary>
    public static string Client => Path.Combine(Directory_.Value, "np_ipc_client");

    /// <summary>Path of the server program (built on first use).</summary>
    public static string Server => Path.Combine(Directory_.Value, "np_ipc_server");

    private static string Build()
    {
        string root = NativeLibraryLocator.RepositoryRoot() ?? throw new InvalidOperationException("repository root not found");
        string library = NativeLibraryLocator.LibraryPath();
        if (!File.Exists(library)) throw new FileNotFoundException("build the library first (./build.sh)", library);
        string dir = Path.Combine(Path.GetTempPath(), $"np-ipc-children-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } };
        foreach (var (name, source) in new[] { ("np_ipc_client", ClientSource), ("np_ipc_server", ServerSource) })
        {
            string c = Path.Combine(dir, name + ".c");
            File.WriteAllText(c, source);
            var gcc = new ProcessStartInfo("gcc") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in new[]
            {
                "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", Path.Combine(root, "native-headers"),
                c, library, "-Wl,-rpath," + Path.GetDirectoryName(library), "-o", Path.Combine(dir, name),
            })
                gcc.ArgumentList.Add(a);
            using Process p = Process.Start(gcc)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"gcc failed on {name}.c:\n{output}");
        }
        return dir;
    }
}

/// <summary>One running child program: its output line by line, waits for lines, kill, exit.</summary>
public sealed class ChildProgram : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly List<string> _all = new();
    public string Name { get; }

    private ChildProgram(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) { _lines.CompleteAdding(); return; }
            lock (_all) _all.Add(e.Data);
            _lines.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_all) _all.Add("stderr: " + e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts <paramref name="program"/> with <paramref name="args"/>; stdin stays open until <see cref="CloseStdin"/>.</summary>
    public static ChildProgram Start(string name, string program, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args) info.ArgumentList.Add(a);
        return new ChildProgram(name, Process.Start(info) ?? throw new InvalidOperationException("cannot start " + program));
    }

    public int Id => _process.Id;

    /// <summary>Everything the child printed so far (stdout, and stderr prefixed), for failure messages.</summary>
    public string Output
    {
        get { lock (_all) return $"[{Name}, pid {_process.Id}]\n" + string.Join("\n", _all); }
    }

    /// <summary>Waits for the next line starting with <paramref name="prefix"/> (skipping others); fails the test when none comes in the liveness bound.</summary>
    public string WaitForLine(string prefix)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < IpcTest.Liveness)
        {
            if (_lines.TryTake(out string? line, TimeSpan.FromMilliseconds(200)))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
                if (line.StartsWith("FAIL", StringComparison.Ordinal)) Assert.Fail($"{Name} failed while we waited for '{prefix}':\n{Output}");
            }
            else if (_lines.IsCompleted)
            {
                break;
            }
        }
        Assert.Fail($"{Name} printed no line starting with '{prefix}'\n{Output}");
        return "";
    }

    /// <summary>SIGKILL (Process.Kill), then wait until the process is gone.</summary>
    public void Kill()
    {
        _process.Kill();
        Assert.That(_process.WaitForExit(IpcTest.Liveness), Is.True, $"{Name} did not die");
    }

    /// <summary>Closes the child's stdin: the programs take it as "finish cleanly".</summary>
    public void CloseStdin() => _process.StandardInput.Close();

    /// <summary>Waits for the exit (failing the test after the liveness bound) and returns the exit code.</summary>
    public int WaitForExit()
    {
        bool exited = _process.WaitForExit(IpcTest.Liveness);
        Assert.That(exited, Is.True, $"{Name} did not exit\n{Output}");
        _process.WaitForExit(); // flushes the output readers
        return _process.ExitCode;
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
        _process.Dispose();
    }
}
