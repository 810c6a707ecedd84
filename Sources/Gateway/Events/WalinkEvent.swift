import Foundation
import Store

/// An event of `walink.events`, typed; ``type`` and ``data`` are what `schemas/events/` documents.
///
/// `auth.qr` and `auth.code` carry credentials for the caller's systems: they travel only in
/// events, never in logs (``description`` leaves them out).
public enum WalinkEvent: Sendable, Hashable {
    /// A QR code to show until `expiresAt`.
    case qr(code: String, sequence: Int, expiresAt: Date)
    /// A pairing code WhatsApp accepted, to type on the phone before `expiresAt`.
    case codeIssued(code: String, phone: String, expiresAt: Date)
    /// The pairing code handed out earlier is dead; ask for a new one.
    case codeExpired
    /// Linked: the identity, as `session.me` answers it (sent only once it is stored).
    case paired(identity: JSONValue)
    case failed(reason: FailureReason, message: String, whatsappCode: Int? = nil)
    /// The codes ran out without a scan.
    case timeout
    case status(SessionStatus, detail: StatusDetail? = nil)

    /// `auth.failed`'s `reason`: WhatsApp's side (from the link), or why walink stopped the pairing.
    public struct FailureReason: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The link succeeded but its credentials could not be stored.
        public static let storageFailed = FailureReason("storage_failed")
    }

    /// `session.status`'s `detail`, with the sentence that goes with it.
    public enum StatusDetail: String, Sendable, Hashable {
        case awaitingPasskey = "awaiting_passkey"

        var message: String {
            switch self {
            case .awaitingPasskey: "the phone asks for passkey verification, which walink cannot provide; use another phone or QR"
            }
        }
    }

    /// The event type: the last part of the routing key `<org>.<session>.<type>`.
    public var type: String {
        switch self {
        case .qr: "auth.qr"
        case .codeIssued, .codeExpired: "auth.code"
        case .paired: "auth.paired"
        case .failed: "auth.failed"
        case .timeout: "auth.timeout"
        case .status: "session.status"
        }
    }

    /// The event's `data`.
    public var data: JSONValue {
        switch self {
        case .qr(let code, let sequence, let expiresAt):
            ["qr": .string(code), "seq": .int(Int64(sequence)), "expiresAt": .string(expiresAt.walinkTimestamp)]
        case .codeIssued(let code, let phone, let expiresAt):
            ["status": "issued", "code": .string(code), "phone": .string(phone), "expiresAt": .string(expiresAt.walinkTimestamp)]
        case .codeExpired:
            ["status": "expired"]
        case .paired(let identity):
            identity
        case .failed(let reason, let message, let whatsappCode):
            if let whatsappCode {
                ["reason": .string(reason.name), "message": .string(message), "whatsappCode": .int(Int64(whatsappCode))]
            } else {
                ["reason": .string(reason.name), "message": .string(message)]
            }
        case .timeout:
            ["message": "no phone linked before the codes ran out; ask for a new QR or pairing code"]
        case .status(let status, let detail):
            if let detail {
                ["status": .string(status.rawValue), "detail": .string(detail.rawValue), "message": .string(detail.message)]
            } else {
                ["status": .string(status.rawValue)]
            }
        }
    }

    /// When the event is worthless (a dead code must never reach a consumer); nil for events that
    /// stay true.
    public var expiresAt: Date? {
        switch self {
        case .qr(_, _, let expiresAt), .codeIssued(_, _, let expiresAt): expiresAt
        default: nil
        }
    }
}

extension WalinkEvent: CustomStringConvertible {
    /// The type and what is safe to log: never a QR string, a code or an identity.
    public var description: String {
        switch self {
        case .qr(_, let sequence, _): "auth.qr(seq \(sequence))"
        case .codeIssued: "auth.code(issued)"
        case .codeExpired: "auth.code(expired)"
        case .failed(let reason, _, _): "auth.failed(\(reason))"
        case .status(let status, _): "session.status(\(status.rawValue))"
        case .paired, .timeout: type
        }
    }
}
