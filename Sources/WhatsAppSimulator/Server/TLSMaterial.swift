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

    /// Generates a CA and server certificate (``SimulatorCertificates/generate(host:now:)``) and writes the CA
    /// to `caFilePath` (a fresh file in the temporary directory when nil).
    static func generate(caFilePath: String?, host: String, now: Date = Date()) throws(SimulatorError) -> TLSMaterial {
        let certificates = try SimulatorCertificates.generate(host: host, now: now)
        let path =
            caFilePath
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("walink-simulator-ca-\(UUID().uuidString).pem").path
        do {
            try Data(certificates.caPEM.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            let configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: [
                    .certificate(try NIOSSLCertificate(bytes: Array(certificates.certificatePEM.utf8), format: .pem))
                ],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificates.privateKeyPEM.utf8), format: .pem)))
            return TLSMaterial(
                context: try NIOSSLContext(configuration: configuration), caPEM: certificates.caPEM, caFilePath: path)
        } catch {
            throw SimulatorError(.tlsSetupFailed, detail: "\(error)")
        }
    }

    /// Loads a PEM certificate chain (server first) and its private key.
    static func load(
        certificateChainPath: String, privateKeyPath: String, caFilePath: String?
    ) throws(SimulatorError)
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

}

/// A certificate authority and a server certificate signed by it, as PEM: what the simulator generates at
/// start, and what `walink sim` can write to files once (``write(to:)``) for ``TLSMode/files(certificateChainPath:privateKeyPath:caFilePath:)``.
public struct SimulatorCertificates: Sendable, Hashable {
    /// The CA certificate (P-256, self-signed); companions trust this.
    public let caPEM: String
    /// The server certificate for `localhost`, `127.0.0.1` and the listening host, signed by the CA.
    public let certificatePEM: String
    /// The server certificate's P-256 private key (PKCS#8 PEM).
    public let privateKeyPEM: String

    /// Generates both, valid from an hour before `now` for a year.
    public static func generate(
        host: String = "127.0.0.1", now: Date = Date()
    ) throws(SimulatorError)
        -> SimulatorCertificates
    {
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
            if let address = ipv4Bytes(host) {
                if address != [127, 0, 0, 1], address != [0, 0, 0, 0] {
                    names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
                }
            } else if host != "localhost", !host.isEmpty, !host.contains(":") {
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
            return SimulatorCertificates(
                caPEM: try ca.serializeAsPEM().pemString, certificatePEM: try server.serializeAsPEM().pemString,
                privateKeyPEM: serverKey.pemRepresentation)
        } catch {
            throw SimulatorError(.tlsSetupFailed, detail: "\(error)")
        }
    }

    /// Writes `ca.pem`, `server.pem` and `server-key.pem` (mode 0600) into `directory`; returns the TLS mode
    /// that uses them.
    public func write(to directory: String) throws(SimulatorError) -> TLSMode {
        let base = URL(fileURLWithPath: directory)
        let ca = base.appendingPathComponent("ca.pem").path
        let certificate = base.appendingPathComponent("server.pem").path
        let key = base.appendingPathComponent("server-key.pem").path
        do {
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            try Data(caPEM.utf8).write(to: URL(fileURLWithPath: ca), options: .atomic)
            try Data(certificatePEM.utf8).write(to: URL(fileURLWithPath: certificate), options: .atomic)
            try Data(privateKeyPEM.utf8).write(to: URL(fileURLWithPath: key), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        } catch {
            throw SimulatorError(.tlsSetupFailed, detail: "\(error)")
        }
        return .files(certificateChainPath: certificate, privateKeyPath: key, caFilePath: ca)
    }

    private static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
