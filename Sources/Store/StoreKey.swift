import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 256-bit key that encrypts device credentials at rest. It never prints: `description`,
/// `debugDescription` and mirrors show a placeholder.
public struct StoreKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let symmetricKey: SymmetricKey

    public init(_ key: SymmetricKey) throws(StoreError) {
        guard key.bitCount == 256 else { throw StoreError(.invalidConfiguration, "the store key must be 32 bytes") }
        self.symmetricKey = key
    }

    /// Accepts 64 hex digits or base64 (standard or URL alphabet, padding optional) of 32 bytes;
    /// surrounding whitespace is ignored.
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Self.hexBytes(trimmed) ?? Self.base64Bytes(trimmed), bytes.count == 32 else {
            throw StoreError(.invalidConfiguration, "the store key must be 32 bytes written as base64 or 64 hex digits")
        }
        self.symmetricKey = SymmetricKey(data: bytes)
    }

    /// A fresh key from the system CSPRNG.
    public static func random() -> StoreKey {
        StoreKey(unchecked: SymmetricKey(size: .bits256))
    }

    private init(unchecked key: SymmetricKey) { self.symmetricKey = key }

    /// The key as base64 with a newline, the key file's content.
    var fileContents: Data {
        symmetricKey.withUnsafeBytes { Data(Data($0).base64EncodedString().utf8) + Data("\n".utf8) }
    }

    public var description: String { "StoreKey(redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: []) }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for index in stride(from: 0, to: 64, by: 2) {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func base64Bytes(_ text: String) -> [UInt8]? {
        var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while standard.utf8.count % 4 != 0 { standard.append("=") }
        return Data(base64Encoded: standard).map { Array($0) }
    }
}

/// Reads the key file, or creates it once. Blocking file I/O: called on the store's thread.
package enum StoreKeyFile {
    /// The key in `path`; when the file is missing and `mayCreate`, a new random key written there
    /// with mode 0600. Two workers starting together end up with the same key: the file appears
    /// atomically (written under a temporary name, then hard-linked into place, which fails if
    /// another worker was first; then its key is read).
    package static func load(path: String, mayCreate: Bool) throws(StoreError) -> (key: StoreKey, created: Bool) {
        if let key = try read(path: path) { return (key, false) }
        guard mayCreate else {
            throw StoreError(
                .keyUnavailable,
                "the database holds encrypted credentials but the key file \(path) does not exist; restore it or set WALINK_STORE_KEY")
        }
        let key = StoreKey.random()
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StoreError(.keyUnavailable, "cannot create the key file next to \(path): \(String(cString: strerror(errno)))")
        }
        defer { unlink(temporary) }
        let contents = key.fileContents
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fchmod(descriptor, 0o600) == 0 && fsync(descriptor) == 0
        close(descriptor)
        guard written == contents.count, synced else {
            throw StoreError(.keyUnavailable, "cannot write the key file \(path)")
        }
        if link(temporary, path) == 0 {
            return (key, true)
        }
        guard errno == EEXIST, let existing = try read(path: path) else {
            throw StoreError(.keyUnavailable, "cannot create the key file \(path): \(String(cString: strerror(errno)))")
        }
        return (existing, false)
    }

    /// The key in `path`, or nil when there is no such file.
    private static func read(path: String) throws(StoreError) -> StoreKey? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw StoreError(.keyUnavailable, "cannot read the key file \(path)")
            }
            return nil
        }
        do {
            return try StoreKey(parsing: String(decoding: data, as: UTF8.self))
        } catch {
            throw StoreError(.keyUnavailable, "the key file \(path) does not hold a 32-byte key (base64 or hex)")
        }
    }

    /// True when group or others may read or write the file.
    package static func isTooOpen(path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return info.st_mode & 0o077 != 0
    }
}
