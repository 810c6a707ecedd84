/// WhatsApp I/O for linking: WebSocket transport, Noise socket and the linking client.
public enum WhatsAppLink {}
