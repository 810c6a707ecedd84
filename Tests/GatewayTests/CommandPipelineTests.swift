import Auth
import Foundation
import Store
import Synchronization
import Testing
import WalinkTestSupport

@testable import Gateway

/// The command contract without a broker: ``CommandPipeline`` with a real store and real
/// authentication (API keys), driven by envelopes built here.
@Suite struct CommandPipelineTests {
    /// A pipeline over its own store, with keys for two organizations.
    struct Harness {
        let pipeline: CommandPipeline
        let store: any WalinkStore
        let counter: CountingHandler
        /// `manage` in acme, `read` only in acme, `manage` in globex.
        let acme: String
        let acmeReadOnly: String
        let globex: String

        static func start(store shared: (any WalinkStore)? = nil, extra: [any CommandHandler] = [], maxBodySize: Int = 1024) async throws -> Harness {
            let store: any WalinkStore
            if let shared { store = shared } else { store = try await PipelineStore.make() }
            let acme = try await store.createAPIKey(organization: "acme", name: nil, permissions: ["manage"]).key
            let readOnly = try await store.createAPIKey(organization: "acme", name: nil, permissions: ["read"]).key
            let globex = try await store.createAPIKey(organization: "globex", name: nil, permissions: ["manage"]).key
            let counter = CountingHandler()
            let callers = try CallerAuthenticator(configuration: AuthConfiguration(), apiKeys: StoreAPIKeyResolver(store: store))
            let handlers: [any CommandHandler] =
                [
                    WorkerPing(workerID: "w1"), SessionCreate(store: store), SessionGet(), SessionList(store: store),
                    SessionDelete(store: store, links: nil), SessionMe(), counter,
                ] + extra
            let pipeline = CommandPipeline(
                configuration: CommandPipeline.Configuration(maxBodySize: maxBodySize), handlers: handlers,
                authenticator: GatewayAuthenticator(callers: callers), store: store)
            return Harness(pipeline: pipeline, store: store, counter: counter, acme: acme, acmeReadOnly: readOnly, globex: globex)
        }

        func run(
            _ command: String?, _ body: String = "", token: String? = nil, messageID: String? = nil, forwardedBy: String? = nil
        ) async -> CommandOutcome {
            await pipeline.run(
                CommandEnvelope(
                    command: command, correlationID: "c-1", messageID: messageID, authorization: token.map { "Bearer \($0)" },
                    forwardedBy: forwardedBy, body: .bytes(Array(body.utf8))))
        }

        /// The answer (a forward fails the test).
        func answer(
            _ command: String?, _ body: String = "", token: String? = nil, messageID: String? = nil, forwardedBy: String? = nil
        ) async throws -> CommandAnswer {
            guard case .answer(let answer) = await run(command, body, token: token, messageID: messageID, forwardedBy: forwardedBy) else {
                throw PipelineTestError("\(command ?? "no command") was forwarded, not answered")
            }
            return answer
        }
    }

    @Test func checksRunInTheDocumentedOrder() async throws {
        let harness = try await Harness.start()
        // 501: an unknown command, before authentication and the body.
        #expect(try await harness.answer("session.teleport", "{oops").status == 501)
        // 401: authentication before the body.
        #expect(try await harness.answer("session.get", "{oops").status == 401)
        // 403: the capability before the body.
        #expect(try await harness.answer("session.get", "\"not an object\"", token: harness.acmeReadOnly).status == 403)
        // 400: the body before the session.
        let malformed = try await harness.answer("session.get", "{oops", token: harness.acme)
        #expect(malformed.status == 400)
        #expect(malformed.body.errorDetails?["field"] == "body")
        // 404: the session before the other parameters.
        #expect(try await harness.answer("session.get", #"{"session":"missing","surprise":1}"#, token: harness.acme).status == 404)
        // 400: the parameters, once the session exists.
        #expect(try await harness.answer("session.create", #"{"session":"here"}"#, token: harness.acme).status == 201)
        let extra = try await harness.answer("session.get", #"{"session":"here","surprise":1}"#, token: harness.acme)
        #expect(extra.status == 400)
        #expect(extra.body.errorDetails?["field"] == "surprise")
        #expect(try await harness.answer("session.get", #"{"session":"here"}"#, token: harness.acme).status == 200)
    }

    @Test func everyErrorBodyIsTheDocumentedEnvelope() async throws {
        let harness = try await Harness.start()
        var validator = SchemaValidator()
        let refusals: [(String?, String, String?, Int, String)] = [
            (nil, "", nil, 400, "validation_error"),
            ("nope", "", nil, 501, "not_implemented"),
            ("session.list", "", nil, 401, "unauthorized"),
            ("session.list", "", "wlk_" + String(repeating: "x", count: 43), 401, "unauthorized"),
            ("session.list", "", harness.acmeReadOnly, 403, "forbidden"),
            ("session.list", "[1]", harness.acme, 400, "validation_error"),
            ("session.get", #"{"session":7}"#, harness.acme, 400, "validation_error"),
            ("session.get", #"{"session":"../etc"}"#, harness.acme, 404, "not_found"),
            ("session.list", #"{"limit":1000}"#, harness.acme, 400, "validation_error"),
        ]
        for (command, body, token, status, code) in refusals {
            let answer = try await harness.answer(command, body, token: token)
            #expect(answer.status == status, "\(command ?? "-") \(body)")
            #expect(answer.body.objectValue?["error"]?.objectValue?["code"] == .string(code))
            try validator.validate(answer.body, against: "error.schema.json")
            if let token { #expect(!answer.body.text.contains(token)) }
        }
    }

    @Test func refusedCommandsAreNotHandledAndHandledOnesKnowTheirSession() async throws {
        let harness = try await Harness.start()
        // Refused before the handler: nobody to publish a result for, so the consumer dead-letters it.
        #expect(try await harness.answer("nope").handled == false)
        #expect(try await harness.answer("session.get", #"{"session":"x"}"#).handled == false)
        #expect(try await harness.answer("session.get", "{oops", token: harness.acme).handled == false)
        // The handler ran (even to an error): the result can be published under org and session.
        let created = try await harness.answer("session.create", #"{"session":"s1"}"#, token: harness.acme)
        #expect(created.handled)
        #expect(created.organization == "acme")
        #expect(created.session == "s1")
        let conflict = try await harness.answer("session.create", #"{"session":"s1"}"#, token: harness.acme)
        #expect(conflict.status == 409)
        #expect(conflict.handled)
    }

    @Test func anotherOrganizationsSessionIsExactlyAMissingOne() async throws {
        let harness = try await Harness.start()
        _ = try await harness.answer("session.create", #"{"session":"mine"}"#, token: harness.acme)
        let foreign = try await harness.answer("session.get", #"{"session":"mine"}"#, token: harness.globex)
        let missing = try await harness.answer("session.get", #"{"session":"nobody"}"#, token: harness.globex)
        #expect(foreign.status == 404)
        #expect(foreign.body == missing.body)
        #expect(try await harness.answer("session.delete", #"{"session":"mine"}"#, token: harness.globex).body == missing.body)
        #expect(try await harness.answer("session.get", #"{"session":"mine"}"#, token: harness.acme).status == 200)
    }

    @Test func handlersDeclareTheCapabilityTheyNeed() async throws {
        struct Billing: CommandHandler {
            var name: String { "test.billing" }
            var parameters: ParameterSchema { .empty }
            var requiredCapability: Capability? { "billing" }
            func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
                CommandResult(body: ["org": .string(request.caller?.organization ?? "")])
            }
        }
        let harness = try await Harness.start(extra: [Billing()])
        let billingKey = try await harness.store.createAPIKey(organization: "acme", name: nil, permissions: ["billing"]).key
        let refused = try await harness.answer("test.billing", token: harness.acme)
        #expect(refused.status == 403)
        #expect(refused.body.errorDetails?["capability"] == "billing")
        let allowed = try await harness.answer("test.billing", token: billingKey)
        #expect(allowed.status == 200)
        #expect(allowed.body.objectValue?["org"] == "acme")
        // The billing key cannot manage sessions.
        #expect(try await harness.answer("session.list", token: billingKey).status == 403)
        // Commands without a capability need no credentials at all.
        #expect(try await harness.answer("worker.ping").status == 200)
    }

    @Test func oversizedBodiesAreRefusedWithTheirSize() async throws {
        let harness = try await Harness.start(maxBodySize: 64)
        let large = #"{"session":""# + String(repeating: "a", count: 100) + #""}"#
        let answer = try await harness.answer("session.get", large, token: harness.acme)
        #expect(answer.status == 400)
        #expect(answer.body.errorDetails?["limit"] == 64)
        #expect(answer.body.errorDetails?["size"] == .int(Int64(large.utf8.count)))
        // A body the transport did not keep is refused from its size alone.
        guard
            case .answer(let discarded) = await harness.pipeline.run(
                CommandEnvelope(command: "session.get", authorization: "Bearer \(harness.acme)", body: .tooLarge(size: 5_000_000)))
        else { throw PipelineTestError("not answered") }
        #expect(discarded.status == 400)
        #expect(discarded.body.errorDetails?["size"] == 5_000_000)
    }

    @Test func aMessageIDRunsACommandOncePerCaller() async throws {
        let harness = try await Harness.start()
        let first = try await harness.answer("test.count", #"{"id":"a"}"#, messageID: "m-1")
        let again = try await harness.answer("test.count", #"{"id":"a"}"#, messageID: "m-1")
        #expect(harness.counter.count("a") == 1)
        #expect(again == first)
        // Another message id runs it again.
        _ = try await harness.answer("test.count", #"{"id":"a"}"#, messageID: "m-2")
        #expect(harness.counter.count("a") == 2)
        // The same id from another caller is another command: one caller cannot replay another's answer.
        _ = try await harness.answer("test.count", #"{"id":"a"}"#, token: harness.globex, messageID: "m-1")
        #expect(harness.counter.count("a") == 3)
        // No message id: no deduplication.
        _ = try await harness.answer("test.count", #"{"id":"a"}"#)
        _ = try await harness.answer("test.count", #"{"id":"a"}"#)
        #expect(harness.counter.count("a") == 5)
    }

    @Test func concurrentDuplicatesWaitForTheFirstCopy() async throws {
        let harness = try await Harness.start()
        let answers = await withTaskGroup(of: CommandAnswer?.self) { group in
            for _ in 0..<20 {
                group.addTask { try? await harness.answer("test.count", #"{"id":"slow","ms":50}"#, messageID: "dup") }
            }
            return await group.reduce(into: [CommandAnswer?]()) { $0.append($1) }
        }
        #expect(harness.counter.count("slow") == 1)
        #expect(Set(answers.map { $0?.body }).count == 1)
        #expect(answers.allSatisfy { $0?.status == 200 })
    }

    @Test func forwardsAreOutcomesAndAreNeverForwardedTwice() async throws {
        final class Owned: CommandHandler {
            let runs = Mutex(0)
            var name: String { "test.owned" }
            var parameters: ParameterSchema { .empty }
            var requiredCapability: Capability? { nil }
            func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult {
                runs.withLock { $0 += 1 }
                return .forward(toWorker: "w-owner")
            }
        }
        let owned = Owned()
        let harness = try await Harness.start(extra: [owned])
        guard case .forward(let worker) = await harness.run("test.owned", messageID: "f-1") else {
            Issue.record("not forwarded")
            return
        }
        #expect(worker == "w-owner")
        // A forward is not an answer: a duplicate is decided afresh (and forwarded again).
        guard case .forward = await harness.run("test.owned", messageID: "f-1") else {
            Issue.record("the duplicate was not forwarded")
            return
        }
        #expect(owned.runs.withLock { $0 } == 2)
        // A command another worker forwarded here is answered, never sent on.
        let bounced = try await harness.answer("test.owned", forwardedBy: "w-other")
        #expect(bounced.status == 503)
        #expect(bounced.body.objectValue?["error"]?.objectValue?["code"] == "unavailable")
    }

    @Test func recordedAnswersCoverTheWholeFleet() async throws {
        // Two workers' pipelines over one store: a redelivery of session.create to the second
        // worker is answered from the first one's record instead of running again (409).
        let store = try await PipelineStore.make()
        let first = try await Harness.start(store: store)
        let second = try await Harness.start(store: store)
        let created = try await first.answer("session.create", #"{"session":"once"}"#, token: first.acme, messageID: "create-1")
        #expect(created.status == 201)
        let redelivered = try await second.answer("session.create", #"{"session":"once"}"#, token: first.acme, messageID: "create-1")
        #expect(redelivered.status == 201)
        #expect(redelivered.body == created.body)
        // Without the message id it does run again, and the conflict shows it.
        #expect(try await second.answer("session.create", #"{"session":"once"}"#, token: first.acme).status == 409)
        // Commands that do not record their answers are not shared: the counter runs on each worker.
        _ = try await first.answer("test.count", #"{"id":"c"}"#, messageID: "count-1")
        _ = try await second.answer("test.count", #"{"id":"c"}"#, messageID: "count-1")
        #expect(first.counter.count("c") == 1)
        #expect(second.counter.count("c") == 1)
    }

    @Test func theWholeSessionLifecycleWithoutABroker() async throws {
        let harness = try await Harness.start()
        let created = try await harness.answer("session.create", #"{"name":"Shop"}"#, token: harness.acme)
        #expect(created.status == 201)
        let id = try #require(created.body.objectValue?["session"]?.stringValue)
        #expect(id.hasPrefix("sess_"))
        let list = try await harness.answer("session.list", token: harness.acme)
        #expect(list.body.objectValue?["sessions"]?.arrayValue?.count == 1)
        let me = try await harness.answer("session.me", #"{"session":"\#(id)"}"#, token: harness.acme)
        #expect(me.status == 404)
        #expect(me.body.errorDetails?["status"] == "created")
        let deleted = try await harness.answer("session.delete", #"{"session":"\#(id)"}"#, token: harness.acme)
        #expect(deleted.body == ["session": .string(id), "deleted": true])
        #expect(try await harness.answer("session.get", #"{"session":"\#(id)"}"#, token: harness.acme).status == 404)
    }
}

struct PipelineTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension JSONValue {
    /// `error.details` of an error body.
    var errorDetails: JSONObject? { objectValue?["error"]?.objectValue?["details"]?.objectValue }
}
