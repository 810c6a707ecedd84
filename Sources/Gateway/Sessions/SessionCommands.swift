import Store

/// `session.create {"session"?: id, "name"?: text}` → 201 with the session.
struct SessionCreate: CommandHandler {
    let store: any SessionStore
    var name: String { "session.create" }
    var recordsAnswerInStore: Bool { true }
    var parameters: ParameterSchema {
        ParameterSchema([
            .init("session", .string(pattern: .sessionID, maxLength: 64)),
            .init("name", .string(pattern: .printable, maxLength: 200)),
        ])
    }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let caller = try request.requireCaller()
        do {
            let session = try await store.createSession(
                organization: caller.organization, id: request.session, name: request.parameters["name"]?.stringValue
            )
            return CommandResult(status: 201, body: session.json)
        } catch {
            throw GatewayError.from(error, session: request.session)
        }
    }
}

/// `session.get {"session"}` → the session.
struct SessionGet: CommandHandler {
    var name: String { "session.get" }
    var parameters: ParameterSchema { ParameterSchema([.init("session", .string(), required: true)]) }
    var sessionRequirement: SessionRequirement { .existing }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        CommandResult(body: try request.requireSession().json)
    }
}

/// `session.list {"limit"?, "cursor"?}` → `{"sessions": [...], "nextCursor": string|null}`, own
/// organization only.
struct SessionList: CommandHandler {
    let store: any SessionStore
    var name: String { "session.list" }
    var parameters: ParameterSchema {
        ParameterSchema([
            .init("limit", .integer(range: Int64(SessionPage.limits.lowerBound)...Int64(SessionPage.limits.upperBound))),
            .init("cursor", .string(maxLength: 200)),
        ])
    }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let caller = try request.requireCaller()
        var limit = 20
        if case .int(let requested)? = request.parameters["limit"] { limit = Int(requested) }
        do {
            let page = try await store.listSessions(
                organization: caller.organization, limit: limit, cursor: request.parameters["cursor"]?.stringValue
            )
            return CommandResult(body: [
                "sessions": .array(page.sessions.map(\.json)),
                "nextCursor": page.nextCursor.map(JSONValue.string) ?? .null,
            ])
        } catch {
            if error.code == .invalidArgument { throw GatewayError.invalidField("cursor", "not a cursor this API returned") }
            throw GatewayError.from(error)
        }
    }
}

/// `session.delete {"session"}` → `{"session": id, "deleted": true}`; credentials and identity go too.
/// A pairing in progress is stopped first, by the worker that runs it (the command is forwarded
/// there), so the phone cannot finish linking a session that no longer exists.
struct SessionDelete: CommandHandler {
    let store: any SessionStore
    let links: LinkManager?
    var name: String { "session.delete" }
    var recordsAnswerInStore: Bool { true }
    var parameters: ParameterSchema { ParameterSchema([.init("session", .string(), required: true)]) }
    var sessionRequirement: SessionRequirement { .existing }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        let session = try request.requireSession()
        if let links, case .forward(let worker) = try await links.stopForDeletion(of: session) {
            return .forward(toWorker: worker)
        }
        do {
            try await store.deleteSession(organization: session.organization, id: session.id)
        } catch {
            throw GatewayError.from(error)
        }
        return CommandResult(body: ["session": .string(session.id), "deleted": true])
    }
}

/// `session.me {"session"}` → the linked account; 404 while not paired.
struct SessionMe: CommandHandler {
    var name: String { "session.me" }
    var parameters: ParameterSchema { ParameterSchema([.init("session", .string(), required: true)]) }
    var sessionRequirement: SessionRequirement { .existing }

    func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
        guard let identity = try request.requireSession().identityJSON else {
            throw GatewayError(.notFound, "session is not paired", details: ["status": .string(try request.requireSession().status.rawValue)])
        }
        return CommandResult(body: identity)
    }
}

extension ParameterSchema.StringRule {
    /// Session ids: `[A-Za-z0-9_-]{1,64}`.
    static let sessionID = Self(reason: "must match [A-Za-z0-9_-]{1,64}") { StoreValidation.isValidSessionID($0) }
    /// No control characters.
    static let printable = Self(reason: "must not contain control characters") { text in
        !text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}

extension CommandRequest {
    func requireCaller() throws(GatewayError) -> Caller {
        guard let caller else { throw GatewayError(.internalError, "command ran without a caller") }
        return caller
    }

    func requireSession() throws(GatewayError) -> Session {
        guard let sessionRecord else { throw GatewayError(.internalError, "command ran without its session") }
        return sessionRecord
    }
}
