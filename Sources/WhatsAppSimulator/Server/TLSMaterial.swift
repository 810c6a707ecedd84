import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The simulator's TLS identity: a certificate authority and a server certificate for `localhost` and
/// `127.0.0.1` (generated), or a chain and key loaded from PEM files. One ``NIOSSLContext`` serves every
/// connection.
struct TLSMaterial: Sendable {
    let context: NIOSSLContext
    /// The CA certificate as PEM (generated mode), for the companion to trust.
    let caPEM: String?
    /// Where the CA PEM is, if anywhere.
    let caFilePath: String?

    /// Generates a CA (P-256) and a server certificate signed by it, valid from an hour ago for a year,
    /// and writes the CA to `caFilePath` (a fresh file in the temporary directory when nil).
    static func generate(caFilePath: String?, host: String, now: Date = Date()) throws(SimulatorError) -> TLSMaterial {
        do {
            let caKey = P256.Signing.PrivateKey()
            let caName = try DistinguishedName {
                CommonName("walink WhatsApp simulator CA")
                OrganizationName("walink")
            }
            let notBefore = now.addingTimeInterval(-3600)
            let notAfter = now.addingTimeInterval(365 * 24 * 3600)
            let ca = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
                notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName, subject: caName,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: .init(caKey.publicKey))
                },
                issuerPrivateKey: .init(caKey))

            let serverKey = P256.Signing.PrivateKey()
            var names: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]
            if let address = ipv4Bytes(host), address != [127, 0, 0, 1], address != [0, 0, 0, 0] {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
            } else if ipv4Bytes(host) == nil, host != "localhost", !host.isEmpty, !host.contains(":") {
                names.append(.dnsName(host))
            }
            let server = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(serverKey.publicKey),
                notValidBefore: notBefore, notValidAfter: notAfter, issuer: caName,
                subject: try DistinguishedName { CommonName("localhost") },
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                    try ExtendedKeyUsage([.serverAuth])
                    SubjectAlternativeNames(names)
                    AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: .init(caKey.publicKey)).keyIdentifier)
                },
                issuerPrivateKey: .init(caKey))

            let caPEM = try ca.serializeAsPEM().pemString
            let serverPEM = try server.serializeAsPEM().pemString
            let path = caFilePath ?? FileManager.default.temporaryDirectory
                .appendingPathComponent("walink-simulator-ca-\(UUID().uuidString).pem").path
            try Data(caPEM.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)

            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(serverPEM.utf8), format: .pem))],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serverKey.pemRepresentation.utf8), format: .pem)))
            return TLSMaterial(context: try NIOSSLContext(configuration: configuration), caPEM: caPEM, caFilePath: path)
        } catch let error as SimulatorError {
            throw error
        } catch {
            throw SimulatorError(.tlsSetupFailed, detail: "\(error)")
        }
    }

    /// Loads a PEM certificate chain (server first) and its private key.
    static func load(certificateChainPath: String, privateKeyPath: String, caFilePath: String?) throws(SimulatorError)
        -> TLSMaterial
    {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateChainPath)
            let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            let caPEM = caFilePath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            return TLSMaterial(context: try NIOSSLContext(configuration: configuration), caPEM: caPEM, caFilePath: caFilePath)
        } catch {
            throw SimulatorError(.tlsSetupFailed, detail: "\(error)")
        }
    }

    private static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
