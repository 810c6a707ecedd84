import Crypto
import Foundation
import NIOSSL

/// A throwaway certificate authority and a server certificate for 127.0.0.1, made at test time
/// so the `https://` key set fetch runs against real TLS. The X.509 structures are written with
/// a few lines of DER below (AuthTests has no X.509 library); signatures are swift-crypto ECDSA.
struct TestCertificateAuthority {
    let caCertificateDER: [UInt8]
    let serverCertificateDER: [UInt8]
    let serverKey: P256.Signing.PrivateKey

    init(commonName: String = "walink test CA") {
        let caKey = P256.Signing.PrivateKey()
        let caName = DER.name(commonName)
        caCertificateDER = DER.certificate(
            issuer: caName, subject: caName, subjectKey: caKey.publicKey, signer: caKey,
            extensions: [DER.basicConstraints(isCA: true)]
        )
        serverKey = P256.Signing.PrivateKey()
        serverCertificateDER = DER.certificate(
            issuer: caName, subject: DER.name("127.0.0.1"), subjectKey: serverKey.publicKey, signer: caKey,
            extensions: [DER.basicConstraints(isCA: false), DER.subjectAltName(ipv4: [127, 0, 0, 1], dns: "localhost")]
        )
    }

    var caPEM: String { DER.pem(caCertificateDER, label: "CERTIFICATE") }

    /// A server TLS context presenting the server certificate (and the CA, as servers do).
    func serverContext() throws -> NIOSSLContext {
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(try NIOSSLCertificate(bytes: serverCertificateDER, format: .der)),
                .certificate(try NIOSSLCertificate(bytes: caCertificateDER, format: .der)),
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverKey.pemRepresentation.utf8), format: .pem))
        )
        return try NIOSSLContext(configuration: configuration)
    }

    /// Writes the CA certificate as PEM to a unique temporary file and returns its path.
    func writeCAFile() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("walink-auth-ca-\(UUID().uuidString).pem")
        try caPEM.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

/// Just enough DER (X.690) for a v3 certificate signed with ecdsa-with-SHA256.
private enum DER {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var count = content.count
            var bytes: [UInt8] = []
            while count > 0 {
                bytes.insert(UInt8(count & 0xFF), at: 0)
                count >>= 8
            }
            length = [0x80 | UInt8(bytes.count)] + bytes
        }
        return [tag] + length + content
    }

    static func sequence(_ parts: [UInt8]...) -> [UInt8] { tlv(0x30, parts.flatMap { $0 }) }
    static func set(_ parts: [UInt8]...) -> [UInt8] { tlv(0x31, parts.flatMap { $0 }) }
    static func explicit(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { tlv(0xA0 | number, content) }
    static func octetString(_ content: [UInt8]) -> [UInt8] { tlv(0x04, content) }
    static func bitString(_ content: [UInt8]) -> [UInt8] { tlv(0x03, [0] + content) }
    static func boolean(_ value: Bool) -> [UInt8] { tlv(0x01, [value ? 0xFF : 0x00]) }

    static func integer(_ magnitude: [UInt8]) -> [UInt8] {
        var bytes = Array(magnitude.drop { $0 == 0 })
        if bytes.isEmpty || bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return tlv(0x02, bytes)
    }

    static func oid(_ dotted: String) -> [UInt8] {
        let arcs = dotted.split(separator: ".").map { UInt64($0)! }
        var body: [UInt8] = [UInt8(arcs[0] * 40 + arcs[1])]
        for arc in arcs.dropFirst(2) {
            var chunk: [UInt8] = [UInt8(arc & 0x7F)]
            var rest = arc >> 7
            while rest > 0 {
                chunk.insert(UInt8(rest & 0x7F) | 0x80, at: 0)
                rest >>= 7
            }
            body += chunk
        }
        return tlv(0x06, body)
    }

    static func utcTime(_ date: Date) -> [UInt8] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let text = String(
            format: "%02d%02d%02d%02d%02d%02dZ", c.year! % 100, c.month!, c.day!, c.hour!, c.minute!, c.second!
        )
        return tlv(0x17, Array(text.utf8))
    }

    static func name(_ commonName: String) -> [UInt8] {
        sequence(set(sequence(oid("2.5.4.3"), tlv(0x0C, Array(commonName.utf8)))))
    }

    static let ecdsaWithSHA256 = sequence(oid("1.2.840.10045.4.3.2"))

    static func basicConstraints(isCA: Bool) -> [UInt8] {
        sequence(oid("2.5.29.19"), boolean(true), octetString(isCA ? sequence(boolean(true)) : sequence()))
    }

    static func subjectAltName(ipv4: [UInt8], dns: String) -> [UInt8] {
        sequence(oid("2.5.29.17"), octetString(sequence(tlv(0x87, ipv4), tlv(0x82, Array(dns.utf8)))))
    }

    static func certificate(
        issuer: [UInt8],
        subject: [UInt8],
        subjectKey: P256.Signing.PublicKey,
        signer: P256.Signing.PrivateKey,
        extensions: [[UInt8]]
    ) -> [UInt8] {
        let now = Date()
        let tbs = sequence(
            explicit(0, integer([2])),  // v3
            integer((0..<16).map { _ in UInt8.random(in: 0...255) }),
            ecdsaWithSHA256,
            issuer,
            sequence(utcTime(now.addingTimeInterval(-3600)), utcTime(now.addingTimeInterval(86400))),
            subject,
            [UInt8](subjectKey.derRepresentation),
            explicit(3, sequence(extensions.flatMap { $0 }))
        )
        let signature = try! signer.signature(for: tbs).derRepresentation
        return sequence(tbs, ecdsaWithSHA256, bitString([UInt8](signature)))
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(base64)\n-----END \(label)-----\n"
    }
}
