namespace NativePools.Native.Abi;

// C function-pointer types the IPC server calls back into. Only the generator reads these
// delegates (for the typedefs in nativepools.h and the bindings); an export takes a callback as
// nint or void* marked [NativeType("np_handler_fn")] and calls it through a delegate* unmanaged,
// so the delegates are never marshalled.

/// <summary>
/// Serves one request of a route added with np_server_add_route: reads request_length bytes at
/// request, writes the reply (up to response_capacity bytes) to response, and sets
/// *response_length to the number of bytes written.
/// </summary>
/// <param name="user_data">The user_data given to np_server_add_route, passed through untouched.</param>
/// <param name="route_id">The id np_server_add_route returned for the route, so one handler can serve several routes.</param>
/// <param name="request">The request bytes; valid only until the handler returns.</param>
/// <param name="request_length">Bytes at request.</param>
/// <param name="response">Where to write the reply; valid only until the handler returns.</param>
/// <param name="response_capacity">Bytes available at response; the handler writes no more.</param>
/// <param name="response_length">Receives the number of bytes written to response (at most response_capacity).</param>
/// <returns>NP_OK to send the response; any other status (even one the transport uses itself, such as NP_E_SHUTDOWN) makes the client's call fail with NP_E_HANDLER_FAILED, its detail message naming the status.</returns>
/// <remarks>
/// Runs on a server worker thread, not on the thread that added the route. It must not call
/// np_server_stop or np_server_destroy on its own server.
/// </remarks>
[NativeCallback("np_handler_fn")]
[return: NativeType("np_status")]
public unsafe delegate int HandlerFn(
    void* user_data,
    uint route_id,
    [NativeType("const uint8_t*")] byte* request,
    uint request_length,
    byte* response,
    uint response_capacity,
    uint* response_length);
