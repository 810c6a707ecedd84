import AMQP
import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// The worker's answers validate against `schemas/`, and the schemas themselves are sound.
@Suite(.timeLimit(.minutes(5))) struct SchemaTests {
    @Test func everySchemaFileIsValidJSONWithAnID() throws {
        let files =
            FileManager.default.enumerator(at: SchemaValidator.directory, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" } ?? []
        #expect(files.count >= 4)
        for file in files {
            let schema = try JSONParser.parse(Array(try Data(contentsOf: file)))
            #expect(schema.objectValue?["$id"]?.stringValue?.hasSuffix(file.lastPathComponent) == true, "\(file.lastPathComponent)")
        }
    }

    @Test func theValidatorCatchesViolations() throws {
        var validator = SchemaValidator()
        #expect(throws: SchemaValidator.Failure.self) {
            try validator.validate(["worker": "w"], against: "commands/worker.ping.json#/$defs/response")
        }
        #expect(throws: SchemaValidator.Failure.self) {
            try validator.validate(["error": ["code": "teapot", "message": "x", "details": [:]]], against: "error.schema.json")
        }
        #expect(throws: SchemaValidator.Failure.self) {
            try validator.validate(["content_type": "application/json", "headers": ["status": "200"]], against: "amqp/reply-message.schema.json")
        }
    }

    @Test func liveRepliesValidate() async throws {
        struct Protected: CommandHandler {
            var name: String { "test.protected" }
            var parameters: ParameterSchema { .empty }
            func handle(_ request: CommandRequest) async throws(GatewayError) -> CommandResult { CommandResult(body: [:]) }
        }
        let worker = try await TestWorker.start(handlers: [Protected()])
        let caller = try TestCaller(names: worker.names)
        var validator = SchemaValidator()

        let ping = try await caller.call("worker.ping")
        try validator.validate(ping.body, against: "commands/worker.ping.json#/$defs/response")
        try validator.validate(ping.delivery.properties.jsonValue, against: "amqp/reply-message.schema.json")

        let statusOf = try #require(
            try JSONParser.parse(Array(try Data(contentsOf: SchemaValidator.directory.appendingPathComponent("error.schema.json"))))
                .objectValue?["$defs"]?.objectValue?["status"]?.objectValue?["const"]?.objectValue)
        let failures = [
            try await caller.call("worker.ping", json: "{nope"),
            try await caller.call("worker.ping", json: "[]"),
            try await caller.call("no.such.thing"),
            try await caller.call("test.protected"),
            try await caller.call("diag.sleep", json: "{\"ms\":true}"),
        ]
        for reply in failures {
            try validator.validate(reply.body, against: "error.schema.json")
            try validator.validate(reply.delivery.properties.jsonValue, against: "amqp/reply-message.schema.json")
            let code = try #require(reply.body.objectValue?["error"]?.objectValue?["code"]?.stringValue)
            #expect(statusOf[code] == .int(Int64(reply.status)), "status header \(reply.status) for \(code)")
        }
        await caller.close()
        await worker.stop()
    }

    @Test func commandsSentByWalinkCallValidate() throws {
        var validator = SchemaValidator()
        let properties = AMQPProperties(
            contentType: "application/json", headers: ["authorization": .string("Bearer wlk_x")], correlationID: "c",
            replyTo: "amq.rabbitmq.reply-to", expiration: "30000", messageID: "m", type: "worker.ping"
        )
        var object = properties.jsonValue.objectValue!
        object["routing_key"] = "worker.ping"
        object["exchange"] = "walink.commands"
        try validator.validate(.object(object), against: "amqp/command-message.schema.json")
        try validator.validate([:], against: "commands/worker.ping.json#/$defs/request")
    }
}
