import Foundation
import WhatsAppProtocol

/// What a ``LinkClient`` reports while it links one companion device.
///
/// A run ends with exactly one terminal event (``paired(_:)``, ``failed(_:)`` or ``timeout``) unless it is
/// cancelled. QR strings and pairing data are secrets: show them to the user, never log them.
public enum LinkEvent: Sendable, Hashable {
    /// A QR code to show until `expiresAt` (or until the next `qr` event, which replaces it). `sequence`
    /// counts the QR events of this run from 1; a `companion_reg_refresh` re-emits the current ref with a new
    /// adv secret as a new sequence number and the same expiry.
    case qr(code: String, sequence: Int, expiresAt: Date)
    /// The server asked for passkey verification (2026 addendum §B). The connection is kept up, but walink
    /// cannot produce a WebAuthn assertion, so unless the phone falls back this run ends in ``timeout``.
    case awaitingPasskey
    /// The pairing code handed out earlier is dead (expired, refreshed by the server, or its stage-2 exchange
    /// failed); a new one can be requested while the registration connection is up. Not terminal.
    case pairingCodeExpired
    /// Linking is complete and the login as the new device succeeded. Terminal.
    case paired(PairedDevice)
    /// Linking failed. Terminal.
    case failed(LinkFailure)
    /// The QR refs (and any outstanding pairing code or passkey wait) ran out without a scan. Terminal.
    case timeout

    /// Whether this event ends the run.
    public var isTerminal: Bool {
        switch self {
        case .paired, .failed, .timeout: true
        case .qr, .awaitingPasskey, .pairingCodeExpired: false
        }
    }
}

/// Why linking failed: a stable reason code for machines and a human sentence.
public struct LinkFailure: Sendable, Hashable, CustomStringConvertible {
    /// The reason code; ``Code/name`` is the stable snake_case spelling for events (e.g. `hmac_mismatch`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable snake_case name.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// The Noise handshake or TLS failed, or the server sent something that is not a handshake.
        public static let handshakeFailed = Code("handshake_failed")
        /// The server's Noise certificate chain is not signed by the configured root (or does not match).
        public static let certificateInvalid = Code("certificate_invalid")
        /// pair-success's HMAC does not match the current adv secret (e.g. a QR scanned before a rotation).
        public static let hmacMismatch = Code("hmac_mismatch")
        /// pair-success's account signature does not verify over our identity key.
        public static let signatureMismatch = Code("signature_mismatch")
        /// The server sent a stream error, a malformed pairing stanza or an unexpected answer.
        public static let serverError = Code("server_error")
        /// The server refused the login (`<failure reason=…>`); see ``LinkFailure/serverCode``.
        public static let loginFailed = Code("login_failed")
        /// The connection dropped or could not be made, or the keepalive went unanswered.
        public static let connectionLost = Code("connection_lost")
        /// A step took longer than its configured timeout (connect, handshake, restart, login).
        public static let timeout = Code("timeout")

        public var description: String { name }
    }

    public let code: Code
    /// A sentence for logs and operators; carries no secret material.
    public let message: String
    /// WhatsApp's numeric reason: the `<failure reason>` for ``Code/loginFailed``, the `<stream:error code>`
    /// or iq error code for ``Code/serverError``; nil otherwise.
    public let serverCode: Int?

    public init(_ code: Code, _ message: String, serverCode: Int? = nil) {
        self.code = code
        self.message = message
        self.serverCode = serverCode
    }

    public var description: String {
        if let serverCode { "\(code) (\(serverCode)): \(message)" } else { "\(code): \(message)" }
    }
}

/// A one-time prekey walink generated and uploaded after login; the private key must be stored with the device.
public struct PreKey: Sendable, Hashable {
    /// Sent as 3 bytes big-endian.
    public let id: UInt32
    public let keyPair: KeyPair

    public init(id: UInt32, keyPair: KeyPair) {
        self.id = id
        self.keyPair = keyPair
    }
}

/// Everything the worker must store about a freshly linked device (linking spec §6.2 step 7, §7.6).
public struct PairedDevice: Sendable, Hashable {
    /// The device's own JID, e.g. `15551234567:3@s.whatsapp.net`.
    public let jid: JID
    /// The device's LID JID, from pair-success or `<success lid>`, if the server sent one.
    public let lid: JID?
    /// The device number (the part after `:`).
    public var deviceID: UInt16 { jid.device }
    /// The account's phone number: the JID user.
    public var phone: String { jid.user }
    /// The primary's platform string (`platform@name`, e.g. `android`, `smba`).
    public let platform: String?
    /// The business name (`biz@name`), if any.
    public let businessName: String?
    /// The push name. WhatsApp does not deliver it during pairing or login (spec §7.6), so this is nil; it is
    /// here so the stored record has the field.
    public let pushName: String?
    /// When `<success>` arrived on the login connection.
    public let pairedAt: Date
    /// The credentials with the adv secret in force at pairing (rotated by `companion_reg_refresh` or
    /// derived by the pairing-code exchange): store these, not the ones the run started with.
    public let credentials: DeviceCredentials
    /// The full `ADVSignedDeviceIdentity` (details, accountSignatureKey, accountSignature, deviceSignature).
    public let signedDeviceIdentity: [UInt8]
    /// The primary's identity public key (`accountSignatureKey`).
    public let primaryIdentityKey: [UInt8]
    /// `ADVDeviceIdentity.keyIndex`.
    public let keyIndex: UInt32
    /// The serialized `ClientPairingProps` of pair-success, if sent.
    public let clientProps: [UInt8]?
    /// Prekeys uploaded after login (empty when the server already had enough).
    public let preKeys: [PreKey]

    public init(
        jid: JID, lid: JID?, platform: String?, businessName: String?, pushName: String? = nil, pairedAt: Date,
        credentials: DeviceCredentials, signedDeviceIdentity: [UInt8], primaryIdentityKey: [UInt8], keyIndex: UInt32,
        clientProps: [UInt8]?, preKeys: [PreKey]
    ) {
        self.jid = jid
        self.lid = lid
        self.platform = platform
        self.businessName = businessName
        self.pushName = pushName
        self.pairedAt = pairedAt
        self.credentials = credentials
        self.signedDeviceIdentity = signedDeviceIdentity
        self.primaryIdentityKey = primaryIdentityKey
        self.keyIndex = keyIndex
        self.clientProps = clientProps
        self.preKeys = preKeys
    }
}

// MARK: - Log-safe descriptions

/// QR strings and keys are secrets: the descriptions (what `"\(event)"` and `print` show) leave them out.
extension LinkEvent: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        switch self {
        case .qr(_, let sequence, let expiresAt): "qr(sequence: \(sequence), expiresAt: \(expiresAt))"
        case .awaitingPasskey: "awaitingPasskey"
        case .pairingCodeExpired: "pairingCodeExpired"
        case .paired(let device): "paired(\(device))"
        case .failed(let failure): "failed(\(failure))"
        case .timeout: "timeout"
        }
    }

    public var debugDescription: String { description }
}

extension PairedDevice: CustomStringConvertible, CustomDebugStringConvertible {
    /// Identity and metadata only; no keys, secrets or signatures.
    public var description: String {
        "PairedDevice(jid: \(jid), lid: \(lid.map { "\($0)" } ?? "none"), platform: \(platform ?? "none"), "
            + "keyIndex: \(keyIndex), preKeys: \(preKeys.count), pairedAt: \(pairedAt))"
    }

    public var debugDescription: String { description }
}

extension PreKey: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "PreKey(\(id))" }
    public var debugDescription: String { description }
}
