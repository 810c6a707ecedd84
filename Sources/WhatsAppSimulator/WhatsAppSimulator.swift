/// A local WhatsApp server and phone for tests, benchmarks and demos.
public enum WhatsAppSimulator {}
