/// WhatsApp I/O for linking a companion device, in three layers:
///
/// - ``WebSocketClient`` / ``WebSocketConnection``: a binary WebSocket client over TLS or plain TCP (shared
///   TLS contexts from ``WebSocketTLS``), usable on its own, e.g. to test a server.
/// - ``WhatsAppConnection``: the WebSocket plus WhatsApp's Noise handshake (certificate chain checked against a
///   configurable root) and encrypted binary-XML stanzas.
/// - ``LinkClient``: one linking session (QR and pairing code, pair-success, the restart and the login),
///   reporting ``LinkEvent``s; its protocol logic is an I/O-free state machine.
public enum WhatsAppLink {}
