import Crypto
import Foundation

/// Encrypts device credentials with AES-256-GCM. The organization and session id are the
/// associated data, so a blob copied into another session's row fails to open instead of
/// handing one session's WhatsApp keys to another. Sealed format: version byte 1, then the
/// 12-byte nonce, ciphertext and 16-byte tag (`AES.GCM.SealedBox.combined`).
///
/// The AES key is derived from the store key with HKDF-SHA256 for this one purpose, so the
/// configured key can safely seed other uses later.
package struct CredentialSealer: Sendable {
    private let key: SymmetricKey
    private static let version: UInt8 = 1
    private static let keyCheckPlaintext = Data("walink store key check".utf8)
    private static let keyCheckContext = Data("walink.store.key-check.v1".utf8)

    package init(storeKey: StoreKey) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: storeKey.symmetricKey,
            salt: Data("walink.store".utf8),
            info: Data("walink.store.credentials.v1".utf8),
            outputByteCount: 32
        )
    }

    package func seal(_ credentials: Data, organization: String, session: String) throws(StoreError) -> Data {
        try seal(credentials, context: Self.context(organization: organization, session: session))
    }

    package func open(_ sealed: Data, organization: String, session: String) throws(StoreError) -> Data {
        guard let plaintext = open(sealed, context: Self.context(organization: organization, session: session)) else {
            throw StoreError(
                .credentialsRejected, "the stored credentials of this session do not authenticate (altered, or copied from another session)")
        }
        return plaintext
    }

    /// A sealed known value stored at creation: opening it at start-up proves the key is the
    /// database's, before any credentials are touched.
    package func makeKeyCheck() throws(StoreError) -> Data {
        try seal(Self.keyCheckPlaintext, context: Self.keyCheckContext)
    }

    package func verifyKeyCheck(_ sealed: Data) -> Bool {
        open(sealed, context: Self.keyCheckContext) == Self.keyCheckPlaintext
    }

    private func seal(_ plaintext: Data, context: Data) throws(StoreError) -> Data {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: context)
            guard let combined = box.combined else { throw StoreError(.database, "AES-GCM produced no combined box") }
            return Data([Self.version]) + combined
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.database, "cannot encrypt credentials")
        }
    }

    private func open(_ sealed: Data, context: Data) -> Data? {
        guard sealed.first == Self.version,
            let box = try? AES.GCM.SealedBox(combined: sealed.dropFirst()),
            let plaintext = try? AES.GCM.open(box, using: key, authenticating: context)
        else { return nil }
        return plaintext
    }

    /// Unambiguous associated data: a label, then each part with its length.
    private static func context(organization: String, session: String) -> Data {
        var data = Data("walink.store.credentials.v1".utf8)
        for part in [organization, session] {
            let bytes = Data(part.utf8)
            withUnsafeBytes(of: UInt32(bytes.count).bigEndian) { data.append(contentsOf: $0) }
            data.append(bytes)
        }
        return data
    }
}
