import Foundation
import WhatsAppProtocol

/// A simulated account's runtime state: its keys and the devices it is linking.
struct PhoneState: Sendable {
    let account: PhoneAccount
    let identity: KeyPair
    let lid: String
    let rawID: UInt32
    var nextKeyIndex: UInt32 = 1
    /// Device ids handed to pairings still running.
    var reserved: Set<UInt16> = []

    init(account: PhoneAccount) throws(SimulatorError) {
        self.account = account
        if let hex = account.identityPrivateKeyHex {
            guard let bytes = Hex.decode(hex), let key = try? KeyPair(privateKey: bytes) else {
                throw SimulatorError(.invalidConfiguration, detail: "phone identity key of \(account.number)")
            }
            identity = key
        } else {
            identity = KeyPair.generate()
        }
        if let lid = account.lid {
            guard !lid.isEmpty, lid.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw SimulatorError(.invalidConfiguration, detail: "LID of \(account.number)")
            }
            self.lid = lid
        } else {
            self.lid = String(UInt64.random(in: 10_000_000_000_000...99_999_999_999_999))
        }
        rawID = UInt32.random(in: 1...UInt32.max)
    }

    var identityForPairing: PhoneIdentity {
        PhoneIdentity(
            number: account.number, identity: identity, platform: account.platform,
            businessName: account.businessName, lid: lid, rawID: rawID)
    }
}

/// A paired device and its keys.
struct DeviceEntry: Sendable {
    var device: PairedDevice
    let noiseKey: [UInt8]
    let identityKey: [UInt8]
    /// Open login connections.
    var connections = 0

    var record: PairingRecord {
        PairingRecord(device: device, noiseKey: noiseKey, identityKey: identityKey)
    }
}

/// An accepted `companion_hello`, findable by phone number.
struct PendingCode: Sendable {
    let handle: ConnectionHandle
    let request: CodeRequest
}

/// Everything the connections and the phone share, kept behind one lock by ``SimulatorCore``.
struct SimulatorState: Sendable {
    var faults = FaultBook()
    var phones: [String: PhoneState] = [:]
    /// By JID (`phone:device@s.whatsapp.net`).
    var devices: [String: DeviceEntry] = [:]
    /// Live registration connections by the companion's Noise key.
    var registrations: [[UInt8]: ConnectionHandle] = [:]
    /// Accepted code requests by phone number.
    var pendingCodes: [String: PendingCode] = [:]
    var openConnections = 0
    var acceptedConnections = 0

    /// The phone account for `number`, created with defaults on first use.
    mutating func phone(_ number: String) throws(SimulatorError) -> PhoneIdentity {
        if let phone = phones[number] { return phone.identityForPairing }
        let phone = try PhoneState(account: PhoneAccount(number: number))
        phones[number] = phone
        return phone.identityForPairing
    }

    /// A device id (lowest free in 1...255) and the next key index for a pairing by `number`. When all
    /// ids are taken the oldest device of the account is unlinked, as a phone does at its device limit.
    mutating func assignDevice(phone number: String) -> DeviceAssignment {
        guard var phone = phones[number] else { preconditionFailure("phone must exist before assignment") }
        let ownDevices = devices.values.filter { $0.device.phoneNumber == number }
        let used = Set(ownDevices.map(\.device.deviceID)).union(phone.reserved)
        let device: UInt16
        if let free = (1...UInt16(255)).first(where: { !used.contains($0) }) {
            device = free
        } else if let oldest = ownDevices.filter({ !phone.reserved.contains($0.device.deviceID) })
            .min(by: { $0.device.pairedAt < $1.device.pairedAt })
        {
            devices[oldest.device.jid] = nil
            device = oldest.device.deviceID
        } else {
            device = 255  // 255 pairings at once on one phone: share the last id
        }
        phone.reserved.insert(device)
        let assignment = DeviceAssignment(device: device, keyIndex: phone.nextKeyIndex)
        phone.nextKeyIndex += 1
        phones[number] = phone
        return assignment
    }

    mutating func releaseDevice(phone number: String, _ assignment: DeviceAssignment) {
        phones[number]?.reserved.remove(assignment.device)
    }

    mutating func recordPairing(_ record: PairingRecord) {
        phones[record.device.phoneNumber]?.reserved.remove(record.device.deviceID)
        devices[record.device.jid] = DeviceEntry(
            device: record.device, noiseKey: record.noiseKey, identityKey: record.identityKey)
    }

    mutating func recordLogin(jid: String, at date: Date) {
        guard var entry = devices[jid] else { return }
        entry.device.loginCount += 1
        entry.device.lastLoginAt = date
        entry.connections += 1
        entry.device.isConnected = true
        devices[jid] = entry
    }

    mutating func recordLogout(jid: String) {
        guard var entry = devices[jid] else { return }
        entry.connections = max(0, entry.connections - 1)
        entry.device.isConnected = entry.connections > 0
        devices[jid] = entry
    }
}
