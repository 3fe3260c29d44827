using System.Collections.Generic;
using System.Linq;
using NativePools.Bindgen.Model;

namespace NativePools.Bindgen.Writing;

/// <summary>
/// Writes src/NativePools.Native/Boundary/exports.g.c: the exported C function of every export.
/// Each enters its managed entry point directly while the calling thread runs normally, and
/// hands the call to a proxy thread once the calling thread has begun to exit (see
/// Boundary/thread_exit.c, which explains why).
/// </summary>
public static class ExportShimWriter
{
    /// <summary>The file's text.</summary>
    public static string Write(AbiModel model)
    {
        var c = new SourceText();
        c.Line("/*");
        c.Line(" * exports.g.c: the exported functions of libnativepools, as C shims over the managed entry points.");
        c.Line(" *");
        foreach (string line in Banner.Lines) c.Line(" * " + line);
        c.Line(" */");
        c.Line("#include \"boundary.h\"");
        foreach (AbiFunction f in model.Functions)
        {
            c.Line();
            WriteShim(c, f);
        }
        return c.ToString();
    }

    private static void WriteShim(SourceText c, AbiFunction f)
    {
        bool returns = f.Return.ToString() != "void";
        bool isStatus = f.Return.ToString() == "np_status";
        string args = "args_" + f.Name, thunk = "thunk_" + f.Name;
        string parameters = f.Parameters.Count == 0 ? "void" : string.Join(", ", f.Parameters.Select(p => $"{p.Type} {p.Name}"));
        string forward = string.Join(", ", f.Parameters.Select(p => p.Name));
        string fromArgs = string.Join(", ", f.Parameters.Select(p => "np_call->" + p.Name));

        // Local names start with np_ so that no parameter name can collide with them.
        c.Line($"/* {f.Name} */");
        c.Line($"{f.Return} {f.ManagedName}({parameters});");
        if (f.ExitPhaseFunction is null) WriteThunk(c, f, returns, isStatus, args, thunk, fromArgs);

        string visibility = f.HasCFastPath ? "NP_BOUNDARY_INTERNAL" : "NP_BOUNDARY_EXPORT";
        string name = f.HasCFastPath ? f.GeneralName : f.Name;
        c.Line($"{visibility} {f.Return} {name}({parameters})");
        c.Line("{");
        c.Line("    if (NP_BOUNDARY_LIKELY(np_boundary_phase == NP_PHASE_RUNNING) || np_boundary_first_call())");
        c.Line(returns ? $"        return {f.ManagedName}({forward});" : $"        {{ {f.ManagedName}({forward}); return; }}");
        if (f.ExitPhaseFunction is not null)
        {
            c.Line(returns ? $"    return {f.ExitPhaseFunction}({forward});" : $"    {f.ExitPhaseFunction}({forward});");
            c.Line("}");
            return;
        }
        var initializers = new List<string>(f.Parameters.Select(p => p.Name));
        if (returns) initializers.Add(FailureValue(f.Return));
        c.Line($"    {args} np_call = {{ {(initializers.Count == 0 ? "0" : string.Join(", ", initializers))} }};");
        c.Line($"    np_boundary_run_elsewhere({thunk}, &np_call);");
        if (returns) c.Line("    return np_call.np_result;");
        c.Line("}");
    }

    // The arguments and result of a call handed to a proxy thread, and the function the proxy runs.
    private static void WriteThunk(SourceText c, AbiFunction f, bool returns, bool isStatus, string args, string thunk, string fromArgs)
    {
        c.Line("typedef struct {");
        foreach (AbiParameter p in f.Parameters) c.Line($"    {p.Type} {p.Name};");
        if (returns) c.Line($"    {f.Return} np_result;");
        else if (f.Parameters.Count == 0) c.Line("    char unused;");
        c.Line($"}} {args};");
        c.Line($"static void {thunk}(void *np_args)");
        c.Line("{");
        c.Line($"    {args} *np_call = ({args} *)np_args;");
        string call = $"{f.ManagedName}({fromArgs})";
        if (!returns)
        {
            if (f.Parameters.Count == 0) c.Line("    (void)np_call;");
            c.Line($"    {call};");
        }
        else
        {
            c.Line($"    np_call->np_result = {call};");
            if (isStatus) c.Line("    if (np_call->np_result < 0) np_boundary_capture_failure();");
        }
        c.Line("}");
    }

    // What a call returns when no proxy thread could run it (np_boundary_run_elsewhere says why
    // in the thread's exit-phase error).
    private static string FailureValue(CType type) => type.ToString() switch
    {
        "np_status" => "NP_E_OUT_OF_MEMORY",
        "const char*" => "\"\"",
        _ when type.PointerDepth > 0 => "NULL",
        _ => "0",
    };
}
