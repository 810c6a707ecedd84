import Foundation
import SwiftProtobuf
import WhatsAppProtocol

/// What the server needs from a ClientPayload (linking spec §2): a registration (a new companion with its
/// identity and signed prekey) or a login as a device paired earlier.
enum ClientPayloadSummary: Sendable, Hashable {
    case registration(CompanionRegistration)
    case login(username: String, device: UInt16)

    /// Parses and checks a decrypted ClientPayload. `noiseKey` is the client's Noise static key from the
    /// same handshake (what the QR and `companion_server_auth_key_pub` must repeat).
    static func parse(_ payload: [UInt8], noiseKey: [UInt8]) throws(SimulatorError) -> ClientPayloadSummary {
        let message: WAClientPayload
        do {
            message = try WAClientPayload(serializedBytes: payload)
        } catch {
            throw SimulatorError(.protocolViolation, detail: "malformed ClientPayload")
        }
        if message.hasDevicePairingData {
            return .registration(try CompanionRegistration(message.devicePairingData, noiseKey: noiseKey))
        }
        guard message.hasUsername, message.username > 0 else {
            throw SimulatorError(.protocolViolation, detail: "ClientPayload is neither registration nor login")
        }
        guard message.device <= UInt32(UInt8.max) else {
            throw SimulatorError(.protocolViolation, detail: "device id out of range")
        }
        return .login(username: String(message.username), device: UInt16(message.device))
    }
}

/// A registering companion as the server sees it (spec §2.3). Keys only, no private material.
struct CompanionRegistration: Sendable, Hashable {
    /// The Noise static public key of the handshake.
    let noiseKey: [UInt8]
    /// `eIdent`: the identity public key.
    let identityKey: [UInt8]
    /// `eRegid`, big-endian.
    let registrationID: UInt32
    /// `eSkeyId`.
    let signedPreKeyID: UInt32
    /// `eSkeyVal`.
    let signedPreKey: [UInt8]
    /// `DeviceProps.os`, the name the phone lists.
    let osName: String
    /// `DeviceProps.platformType`.
    let platformType: Int

    init(_ data: WAClientPayload.DevicePairingRegistrationData, noiseKey: [UInt8]) throws(SimulatorError) {
        let identity = Array(data.eIdent)
        let preKey = Array(data.eSkeyVal)
        let regID = Array(data.eRegid)
        let keyID = Array(data.eSkeyID)
        guard identity.count == 32, preKey.count == 32 else {
            throw SimulatorError(.protocolViolation, detail: "registration key length")
        }
        guard Array(data.eKeytype) == [DJBKey.typeByte] else {
            throw SimulatorError(.protocolViolation, detail: "registration key type")
        }
        guard regID.count == 4, keyID.count == 3 else {
            throw SimulatorError(.protocolViolation, detail: "registration id length")
        }
        guard let message = try? DJBKey.signedPreKeyMessage(preKey),
            XEdDSA.verify(Array(data.eSkeySig), of: message, publicKey: identity)
        else { throw SimulatorError(.protocolViolation, detail: "signed prekey signature") }
        self.noiseKey = noiseKey
        identityKey = identity
        registrationID = regID.reduce(0) { $0 << 8 | UInt32($1) }
        signedPreKeyID = keyID.reduce(0) { $0 << 8 | UInt32($1) }
        signedPreKey = preKey
        let props = try? WADeviceProps(serializedBytes: data.deviceProps)
        osName = props?.os ?? ""
        platformType = props?.platformType.rawValue ?? 0
    }
}
