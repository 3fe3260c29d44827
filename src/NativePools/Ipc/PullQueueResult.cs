namespace NativePools.Ipc;

/// <summary>What happened to a pull request a worker offered to the server's pending table.</summary>
internal enum PullQueueResult
{
    /// <summary>Copied into the table; the worker consumes it from the ring.</summary>
    Queued,
    /// <summary>The table (or the message pool) has no room: the request waits in its ring.</summary>
    TableFull,
    /// <summary>Its client holds as many pending requests or bytes as one client may: the request waits in its ring.</summary>
    ClientLimit,
    /// <summary>The stop already answered the table: the worker answers the request with Shutdown itself.</summary>
    Stopped,
}
