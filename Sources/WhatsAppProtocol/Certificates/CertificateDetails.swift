import Foundation
import SwiftProtobuf

/// What one certificate of the server chain states (`CertChain.NoiseCertificate.Details`).
public struct CertificateDetails: Sendable, Hashable {
    /// This certificate's serial number.
    public var serial: UInt32
    /// The serial of the certificate that signed this one; 0 means the root.
    public var issuerSerial: UInt32
    /// The certified raw 32-byte Curve25519 public key.
    public var key: [UInt8]
    /// Start of validity, Unix seconds.
    public var notBefore: UInt64
    /// End of validity (inclusive), Unix seconds.
    public var notAfter: UInt64

    public init(serial: UInt32, issuerSerial: UInt32, key: [UInt8], notBefore: UInt64, notAfter: UInt64) {
        self.serial = serial
        self.issuerSerial = issuerSerial
        self.key = key
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

    /// Whether `now` lies within `notBefore...notAfter`, or which side it falls off.
    func validity(at now: Date) -> Validity {
        let seconds = now.timeIntervalSince1970
        if seconds < Double(notBefore) { return .notYetValid }
        if seconds > Double(notAfter) { return .expired }
        return .valid
    }

    enum Validity { case valid, notYetValid, expired }

    init(_ message: WACertChain.NoiseCertificate.Details) {
        self.init(
            serial: message.serial, issuerSerial: message.issuerSerial, key: Array(message.key),
            notBefore: message.notBefore, notAfter: message.notAfter)
    }

    /// The protobuf encoding that gets signed.
    func serialized() -> [UInt8] {
        var message = WACertChain.NoiseCertificate.Details()
        message.serial = serial
        message.issuerSerial = issuerSerial
        message.key = Data(key)
        message.notBefore = notBefore
        message.notAfter = notAfter
        // Serializing a message with only scalar and bytes fields cannot fail.
        return try! message.serializedBytes()
    }
}
