import Foundation
import WhatsAppLink
import WhatsAppProtocol

/// The device credentials of a linked session as stored (encrypted by the store): every private key
/// and the account data a later login or messaging worker needs. Versioned JSON with base64 fields.
struct StoredDevice {
    static let version = 1

    static func encode(_ device: PairedDevice) -> Data {
        let credentials = device.credentials
        func b64(_ bytes: [UInt8]) -> JSONValue { .string(Data(bytes).base64EncodedString()) }
        let value: JSONValue = [
            "version": .int(Int64(version)),
            "jid": .string(device.jid.description),
            "lid": device.lid.map { .string($0.description) } ?? .null,
            "noiseKey": b64(credentials.noiseKey.privateKey),
            "identityKey": b64(credentials.identityKey.privateKey),
            "signedPreKey": [
                "id": .int(Int64(credentials.signedPreKey.id)),
                "key": b64(credentials.signedPreKey.keyPair.privateKey),
                "signature": b64(credentials.signedPreKey.signature),
            ],
            "registrationId": .int(Int64(credentials.registrationID)),
            "advSecret": b64(credentials.advSecretKey),
            "signedDeviceIdentity": b64(device.signedDeviceIdentity),
            "primaryIdentityKey": b64(device.primaryIdentityKey),
            "keyIndex": .int(Int64(device.keyIndex)),
            "preKeys": .array(device.preKeys.map { ["id": .int(Int64($0.id)), "key": b64($0.keyPair.privateKey)] }),
        ]
        return Data(value.serialized)
    }

    /// The credentials back from a stored blob (for the login after a worker restart).
    static func credentials(from data: Data) throws -> DeviceCredentials {
        guard case .object(let object) = try JSONParser.parse(Array(data)), object["version"] == .int(Int64(version)) else {
            throw StoredDeviceError()
        }
        func bytes(_ value: JSONValue?) throws -> [UInt8] {
            guard let text = value?.stringValue, let data = Data(base64Encoded: text) else { throw StoredDeviceError() }
            return Array(data)
        }
        func number(_ value: JSONValue?) throws -> UInt32 {
            guard case .int(let number)? = value, let result = UInt32(exactly: number) else { throw StoredDeviceError() }
            return result
        }
        let signed = object["signedPreKey"]?.objectValue
        return DeviceCredentials(
            noiseKey: try KeyPair(privateKey: try bytes(object["noiseKey"])),
            identityKey: try KeyPair(privateKey: try bytes(object["identityKey"])),
            signedPreKey: SignedPreKey(
                id: try number(signed?["id"]),
                keyPair: try KeyPair(privateKey: try bytes(signed?["key"])),
                signature: try bytes(signed?["signature"])
            ),
            registrationID: try number(object["registrationId"]),
            advSecretKey: try bytes(object["advSecret"])
        )
    }
}

struct StoredDeviceError: Error {}
