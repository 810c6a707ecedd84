@testable import WhatsAppProtocol

/// `noise.json`: a WhatsApp-flavoured Noise XX handshake with fixed keys, from three independent
/// implementations.
struct NoiseVector {
    var prologue: [UInt8]
    var clientEphemeral: KeyPair
    var clientStatic: KeyPair
    var serverEphemeral: KeyPair
    var serverStatic: KeyPair
    var serverPayload: [UInt8]
    var clientPayload: [UInt8]
    var clientToServerPlain: [UInt8]
    var serverToClientPlain: [UInt8]
    var message1: [UInt8]
    var message2: NoiseServerHello
    var message3: NoiseClientFinish
    var clientToServerFrame: [UInt8]
    var serverToClientFrame: [UInt8]

    static func load() throws -> NoiseVector {
        guard let json = try Vectors.json("noise.json") as? [String: String] else {
            throw VectorError(message: "noise.json is not a string map")
        }
        func field(_ name: String) throws -> [UInt8] {
            guard let value = json[name] else { throw VectorError(message: "noise.json lacks \(name)") }
            return try unhex(value)
        }
        // Messages 2 and 3 are the raw HandshakeMessage fields concatenated: 32-byte ephemeral, 48-byte
        // encrypted static, then the encrypted payload.
        let m2 = try field("msg2_server_hello(e|enc_s|enc_payload)")
        let m3 = try field("msg3_client_finish(enc_s|enc_payload)")
        guard m2.count > 80, m3.count > 48 else { throw VectorError(message: "noise.json messages too short") }
        return NoiseVector(
            prologue: try field("prologue"),
            clientEphemeral: try KeyPair(privateKey: field("client_e_priv")),
            clientStatic: try KeyPair(privateKey: field("client_s_priv")),
            serverEphemeral: try KeyPair(privateKey: field("server_e_priv")),
            serverStatic: try KeyPair(privateKey: field("server_s_priv")),
            serverPayload: try field("server_payload"),
            clientPayload: try field("client_payload"),
            clientToServerPlain: try field("c2s_plain_0"),
            serverToClientPlain: try field("s2c_plain_0"),
            message1: try field("msg1_client_ephemeral"),
            message2: NoiseServerHello(
                ephemeral: Array(m2[0..<32]), encryptedStatic: Array(m2[32..<80]), encryptedPayload: Array(m2[80...])
            ),
            message3: NoiseClientFinish(encryptedStatic: Array(m3[0..<48]), encryptedPayload: Array(m3[48...])),
            clientToServerFrame: try field("transport_c2s_0"),
            serverToClientFrame: try field("transport_s2c_0")
        )
    }
}
