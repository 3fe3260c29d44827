import 'native.g.dart';

/// A snapshot of an IPC server's counters (np_server_stats).
///
/// Recent values while the server runs (the workers' counters are summed
/// when read); exact once it stopped.
final class IpcServerStats {
  /// Copies the fields of a filled np_server_stats.
  IpcServerStats.fromNative(np_server_stats s)
      : connectionsNow = s.connections_now,
        connectionsPeak = s.connections_peak,
        connectionsTotal = s.connections_total,
        connectionsRejected = s.connections_rejected,
        requests = s.requests,
        responses = s.responses,
        errorResponses = s.error_responses,
        bytesIn = s.bytes_in,
        bytesOut = s.bytes_out,
        protocolErrors = s.protocol_errors,
        handlerErrors = s.handler_errors,
        unknownRoutes = s.unknown_routes,
        peerHangups = s.peer_hangups,
        idleClosed = s.idle_closed,
        pendingRequests = s.pending_requests,
        buffersCreated = s.buffers_created,
        buffersReused = s.buffers_reused,
        clientLimitHits = s.client_limit_hits,
        refusedNoDescriptor = s.refused_no_descriptor,
        acceptBackoffs = s.accept_backoffs;

  /// Connections open now.
  final int connectionsNow;

  /// Most connections open at once.
  final int connectionsPeak;

  /// Connections accepted since start.
  final int connectionsTotal;

  /// Connections refused at the handshake (uid not allowed, server full).
  final int connectionsRejected;

  /// Requests read.
  final int requests;

  /// Responses written, error responses included.
  final int responses;

  /// Responses that carried an error status.
  final int errorResponses;

  /// Request payload bytes.
  final int bytesIn;

  /// Response payload bytes.
  final int bytesOut;

  /// Connections dropped because the client broke the protocol (garbage in
  /// its shared memory).
  final int protocolErrors;

  /// Handler calls that returned an error.
  final int handlerErrors;

  /// Requests for route ids the server does not have.
  final int unknownRoutes;

  /// Connections closed because the client hung up or died.
  final int peerHangups;

  /// Connections closed by the idle timeout.
  final int idleClosed;

  /// Pull-mode requests received and not yet replied to.
  final int pendingRequests;

  /// Message buffers the server took from its message pool for the first
  /// time.
  final int buffersCreated;

  /// Message buffers taken again after a release.
  final int buffersReused;

  /// Times a client reached its share of pending pull requests or bytes
  /// (its further requests waited in its ring).
  final int clientLimitHits;

  /// Connections refused because the server had no file descriptor left for
  /// them (also in [connectionsRejected]).
  final int refusedNoDescriptor;

  /// Times the server paused accepting after an accept failure it could not
  /// answer.
  final int acceptBackoffs;

  /// [buffersReused] / ([buffersCreated] + [buffersReused]): the share of
  /// message buffers that came back from the pool rather than fresh memory;
  /// 0 before the first.
  double get reuseRate {
    final taken = buffersCreated + buffersReused;
    return taken == 0 ? 0.0 : buffersReused / taken;
  }

  @override
  String toString() => 'IpcServerStats(connectionsNow: $connectionsNow, '
      'connectionsPeak: $connectionsPeak, '
      'connectionsTotal: $connectionsTotal, '
      'connectionsRejected: $connectionsRejected, requests: $requests, '
      'responses: $responses, errorResponses: $errorResponses, '
      'bytesIn: $bytesIn, bytesOut: $bytesOut, '
      'protocolErrors: $protocolErrors, handlerErrors: $handlerErrors, '
      'unknownRoutes: $unknownRoutes, peerHangups: $peerHangups, '
      'idleClosed: $idleClosed, pendingRequests: $pendingRequests, '
      'buffersCreated: $buffersCreated, buffersReused: $buffersReused, '
      'reuseRate: ${reuseRate.toStringAsFixed(4)})';
}

/// A snapshot of one route's counters (np_route_stats).
final class IpcRouteStats {
  /// Copies the fields of a filled np_route_stats.
  IpcRouteStats.fromNative(np_route_stats s)
      : routeId = s.route_id,
        requests = s.requests,
        responses = s.responses,
        errors = s.errors,
        bytesIn = s.bytes_in,
        bytesOut = s.bytes_out;

  /// The route these counters belong to.
  final int routeId;

  /// Requests received.
  final int requests;

  /// Responses sent, error responses included.
  final int responses;

  /// Error responses.
  final int errors;

  /// Request payload bytes.
  final int bytesIn;

  /// Response payload bytes.
  final int bytesOut;

  @override
  String toString() => 'IpcRouteStats(routeId: $routeId, '
      'requests: $requests, responses: $responses, errors: $errors, '
      'bytesIn: $bytesIn, bytesOut: $bytesOut)';
}
