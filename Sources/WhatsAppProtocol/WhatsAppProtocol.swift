/// The pure WhatsApp protocol: frames, Noise, binary XML, protobuf messages, signatures, pairing crypto.
public enum WhatsAppProtocol {}
