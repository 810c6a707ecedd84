import Foundation
import Gateway
import Testing
import WalinkTestSupport

/// `walink call` as people and scripts use it.
@Suite(.timeLimit(.minutes(5))) struct WalinkCallTests {
    func environment(_ worker: TestWorker) -> [String: String] {
        ["WALINK_AMQP_URL": TestBroker.url, "WALINK_TOPOLOGY_PREFIX": worker.names.prefix]
    }

    /// Far above what an answer takes, so a busy machine never turns a slow answer into exit 3.
    let patience = ["--timeout", "120"]

    @Test func printsStatusAndBodyAndExitsZeroOnSuccess() async throws {
        let worker = try await TestWorker.start()
        let result = try await runWalink(["call", "worker.ping"] + patience, environment: environment(worker))
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("status: 200\n"))
        let body = try JSONParser.parse(Array(result.output.dropFirst("status: 200\n".count).utf8))
        #expect(body.objectValue?["worker"] == "test-worker")
        await worker.stop()
    }

    @Test func exitsOneOnAnErrorAnswer() async throws {
        let counter = CountingHandler()
        let worker = try await TestWorker.start(handlers: [counter])
        let unknown = try await runWalink(["call", "no.such.command"] + patience, environment: environment(worker))
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("status: 501"))
        #expect(unknown.output.contains("\"not_implemented\""))
        // --param values are strings, --json carries types, --session sets "session".
        let typed = try await runWalink(
            ["call", "test.count", "--param", "id=x", "--json", "{\"ms\":1}"] + patience, environment: environment(worker))
        #expect(typed.status == 0)
        #expect(counter.count("x") == 1)
        let mistyped = try await runWalink(["call", "test.count", "--param", "id=x", "--param", "ms=1"] + patience, environment: environment(worker))
        #expect(mistyped.status == 1)
        #expect(mistyped.output.contains("\"field\": \"ms\""))
        await worker.stop()
    }

    @Test func exitsThreeWhenNoAnswerComes() async throws {
        // A topology nobody consumes: the command waits in the queue and no answer comes.
        let worker = try await TestWorker.start()
        await worker.stop()
        let result = try await runWalink(["call", "worker.ping", "--timeout", "1.5"], environment: environment(worker))
        #expect(result.status == 3)
        #expect(result.output.contains("no answer within"))
    }
}

/// `walink demo` as a newcomer runs it, against the test broker.
@Suite(.timeLimit(.minutes(5))) struct WalinkDemoTests {
    @Test func theDemoLinksOneSessionByQRAndOneByCode() async throws {
        let result = try await runWalink(["demo", "--phone-delay", "0"], environment: ["WALINK_AMQP_URL": TestBroker.url])
        #expect(result.status == 0, "\(result.output.suffix(2000))")
        let identities = result.output.split(separator: "\n").filter { $0.hasPrefix("  demo-") }
        #expect(identities.count == 2)
        #expect(identities.allSatisfy { $0.contains("\"jid\":\"15550001111:") })
        #expect(result.output.contains("event auth.paired [demo-qr]"))
        #expect(result.output.contains("event auth.paired [demo-code]"))
    }
}
