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
