import Foundation
import NIOPosix

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
