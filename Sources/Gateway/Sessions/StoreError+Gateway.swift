import Store

extension GatewayError {
    /// The answer for a store failure. Store messages name no secrets; internals stay in the log.
    static func from(_ error: StoreError, session: String? = nil) -> GatewayError {
        switch error.code {
        case .notFound: .sessionNotFound
        case .conflict: GatewayError(.conflict, "a session with this id already exists", details: session.map { ["session": .string($0)] } ?? [:])
        case .invalidArgument, .invalidState: GatewayError(.validationError, error.message)
        case .busy, .closed, .cancelled, .leaseLost: GatewayError(.unavailable, "the session store is busy; try again", details: ["retryAfter": 1])
        case .unavailable:
            GatewayError(.unavailable, "the session store cannot be reached; try again", details: ["reason": "store_unavailable", "retryAfter": 1])
        default: GatewayError(.internalError, "the session store failed")
        }
    }

    /// The one body for "no such session" and "another organization's session": the two must be
    /// indistinguishable.
    public static let sessionNotFound = GatewayError(.notFound, "session not found")
}
