import Foundation
import WhatsAppProtocol

/// How a device was paired.
public enum PairingMethod: String, Sendable, Hashable, Codable {
    case qr
    case code
}

/// A companion device the simulator paired (and whether it logged in since).
public struct PairedDevice: Sendable, Hashable, Codable {
    /// The account's phone number.
    public var phoneNumber: String
    /// The companion's device id (the part after `:`).
    public var deviceID: UInt16
    /// `phone:device@s.whatsapp.net`.
    public var jid: String
    /// `lid:device@lid`.
    public var lid: String
    /// The companion's `DeviceProps.os` (what the phone lists).
    public var companionName: String
    public var method: PairingMethod
    public var pairedAt: Date
    /// Completed logins (`<success>` sent) since pairing.
    public var loginCount: Int
    public var lastLoginAt: Date?
    /// A login connection of this device is open now.
    public var isConnected: Bool
}

/// What a phone action achieved.
public enum PhoneOutcome: Sendable, Hashable {
    /// pair-success was accepted (its `pair-device-sign` verified), 515 sent and the connection closed.
    case paired(PairedDevice)
    /// Fault: `companion_reg_refresh` was sent and acknowledged instead of pair-success; scan the
    /// re-rendered QR.
    case companionRegRefreshSent
    /// Fault: `passkey_prologue_request` was sent and acknowledged instead of pair-success.
    case passkeyRequestSent
    /// Fault: the connection was dropped right after the scan.
    case connectionDropped
}

/// The phone's side of one pairing, as the session needs it.
struct PhoneIdentity: Sendable, Hashable {
    let number: String
    let identity: KeyPair
    let platform: String
    let businessName: String?
    /// The LID user part.
    let lid: String
    /// `ADVDeviceIdentity.rawId` of the account.
    let rawID: UInt32
}

/// The device id and key index the phone gives the companion it is pairing.
struct DeviceAssignment: Sendable, Hashable {
    let device: UInt16
    let keyIndex: UInt32
}

/// The faults that apply to one phone action, already resolved from the fault scopes.
struct ActionFaults: Sendable, Hashable {
    var pairSuccess: PairSuccessFault?
    var dropAfterScan = false
    var companionRegRefresh = false
    var passkeyRequest = false
}

/// A QR scan handed to a registration connection.
struct ScanRequest: Sendable {
    let qr: PairingQR
    let phone: PhoneIdentity
    let assignment: DeviceAssignment
    let faults: ActionFaults
}

/// A code entry handed to the connection that asked for the code. The PBKDF2 work (unwrapping the
/// companion's key, wrapping the phone's) is done beforehand, off the event loop.
struct CodeEntry: Sendable {
    let phone: PhoneIdentity
    let assignment: DeviceAssignment
    let faults: ActionFaults
    let primaryEphemeral: KeyPair
    let wrappedPrimaryEphemeral: [UInt8]
    /// The companion's ephemeral public key, unwrapped with the entered code (garbage if the code is wrong).
    let companionEphemeral: [UInt8]
}

/// A pairing-code request (`companion_hello`) as the server keeps it.
struct CodeRequest: Sendable, Hashable {
    let phoneNumber: String
    let wrappedCompanionEphemeral: [UInt8]
    let platformID: String
    let platformDisplay: String
    let iqID: String
}

/// A completed pairing, for the simulator's records.
struct PairingRecord: Sendable, Hashable {
    let device: PairedDevice
    let noiseKey: [UInt8]
    let identityKey: [UInt8]
}
