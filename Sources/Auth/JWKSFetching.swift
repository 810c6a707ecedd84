import Foundation
import NIOPosix

/// Gets the bytes of the key set document; ``JWKSCache`` decides when.
protocol JWKSFetching: Sendable {
    func fetch() async throws -> [UInt8]
}

/// Why a key set fetch failed. The description is for logs: it names the failure, never the
/// document or anything secret.
struct JWKSFetchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }

    static let tooLarge = JWKSFetchError("the key set is larger than the limit")
    static let timedOut = JWKSFetchError("the key set fetch timed out")
}

/// A `file:` key set, read on NIO's blocking-I/O thread pool.
struct FileJWKSFetcher: JWKSFetching {
    let path: String
    let maxSize: Int

    func fetch() async throws -> [UInt8] {
        try await NIOThreadPool.singleton.runIfActive { [path, maxSize] in
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw JWKSFetchError("the key set file cannot be opened")
            }
            defer { try? handle.close() }
            let data = try handle.read(upToCount: maxSize + 1) ?? Data()
            guard data.count <= maxSize else { throw JWKSFetchError.tooLarge }
            return [UInt8](data)
        }
    }
}
