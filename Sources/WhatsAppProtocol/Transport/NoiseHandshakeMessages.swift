import Foundation
import SwiftProtobuf

/// The `HandshakeMessage` protobuf (spec 10) around the three Noise handshake messages, so the I/O layers
/// (the linking client and the simulator) need not depend on SwiftProtobuf: each frame body of the
/// handshake is one serialized `HandshakeMessage` holding exactly one of `clientHello`, `serverHello`,
/// `clientFinish`.
///
/// Decoding checks presence and the fixed lengths (ephemeral 32 bytes, encrypted static 48 bytes) and throws
/// ``NoiseError/Code/malformedMessage`` for anything else; it never traps on hostile input.
public enum NoiseHandshakeMessages {
    /// Message 1: `HandshakeMessage{ clientHello{ ephemeral } }`, no payload (as whatsmeow sends it).
    public static func encodeClientHello(ephemeral: [UInt8]) -> [UInt8] {
        var message = WAHandshakeMessage()
        message.clientHello.ephemeral = Data(ephemeral)
        return serialize(message)
    }

    /// The client's ephemeral key from message 1 (server side).
    public static func decodeClientHello(_ bytes: [UInt8]) throws(NoiseError) -> [UInt8] {
        let message = try parse(bytes)
        guard message.hasClientHello, message.clientHello.hasEphemeral, message.clientHello.ephemeral.count == 32
        else { throw NoiseError(.malformedMessage) }
        return Array(message.clientHello.ephemeral)
    }

    /// Message 2: `HandshakeMessage{ serverHello{ ephemeral, static, payload } }`.
    public static func encodeServerHello(_ hello: NoiseServerHello) -> [UInt8] {
        var message = WAHandshakeMessage()
        message.serverHello.ephemeral = Data(hello.ephemeral)
        message.serverHello.static = Data(hello.encryptedStatic)
        message.serverHello.payload = Data(hello.encryptedPayload)
        return serialize(message)
    }

    /// The ServerHello fields (client side). whatsmeow rejects a ServerHello missing any of the three.
    public static func decodeServerHello(_ bytes: [UInt8]) throws(NoiseError) -> NoiseServerHello {
        let message = try parse(bytes)
        let hello = message.serverHello
        guard message.hasServerHello, hello.hasEphemeral, hello.hasStatic, hello.hasPayload,
            hello.ephemeral.count == 32, hello.static.count == 48
        else { throw NoiseError(.malformedMessage) }
        return NoiseServerHello(
            ephemeral: Array(hello.ephemeral), encryptedStatic: Array(hello.static),
            encryptedPayload: Array(hello.payload))
    }

    /// Message 3: `HandshakeMessage{ clientFinish{ static, payload } }`, two separate fields.
    public static func encodeClientFinish(_ finish: NoiseClientFinish) -> [UInt8] {
        var message = WAHandshakeMessage()
        message.clientFinish.static = Data(finish.encryptedStatic)
        message.clientFinish.payload = Data(finish.encryptedPayload)
        return serialize(message)
    }

    /// The ClientFinish fields (server side).
    public static func decodeClientFinish(_ bytes: [UInt8]) throws(NoiseError) -> NoiseClientFinish {
        let message = try parse(bytes)
        let finish = message.clientFinish
        guard message.hasClientFinish, finish.hasStatic, finish.hasPayload, finish.static.count == 48 else {
            throw NoiseError(.malformedMessage)
        }
        return NoiseClientFinish(encryptedStatic: Array(finish.static), encryptedPayload: Array(finish.payload))
    }

    private static func parse(_ bytes: [UInt8]) throws(NoiseError) -> WAHandshakeMessage {
        do {
            return try WAHandshakeMessage(serializedBytes: bytes)
        } catch {
            throw NoiseError(.malformedMessage)
        }
    }

    private static func serialize(_ message: WAHandshakeMessage) -> [UInt8] {
        // Only bytes fields are set; serialization cannot fail.
        try! message.serializedBytes()
    }
}
