/// A local WhatsApp server and phone for walink's tests, benchmarks and `walink demo`, built on the
/// protocol core (`WhatsAppProtocol`).
///
/// - ``Simulator``: the server (TLS WebSocket on `/ws/chat`, Noise XX under its own certificate root,
///   binary-XML stanzas as WhatsApp sends them) and the phone (``Simulator/scan(qr:phone:faults:)``,
///   ``Simulator/enterCode(_:phone:faults:)``), with ``Simulator/start()``/``Simulator/stop()`` and the
///   long-running ``Simulator/run()``.
/// - ``SimulatorConfiguration``: listener, TLS (``TLSMode``, ``SimulatorCertificates``), Noise root,
///   ref count and lifetimes, timeouts, ``PhoneAccount``s, ``SimulatorFaults``, ``DemoOptions``.
/// - ``ControlAPI``: the same as JSON over HTTP for out-of-process use (`walink sim`).
///
/// Protocol logic lives in I/O-free state machines (`ServerTransport`, `ServerSession`); the NIO handlers
/// only carry out their actions.
public enum WhatsAppSimulator {}
