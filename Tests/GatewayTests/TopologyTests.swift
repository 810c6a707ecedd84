import AMQP
import Foundation
import Store
import Testing
import WalinkTestSupport
import WhatsAppLink
import WhatsAppProtocol

@testable import Gateway

@Suite struct TopologyTests {
    @Test func committedDefinitionsMatchTheTopologyTheWorkerDeclares() throws {
        let file = TestBroker.packageRoot.appendingPathComponent("deploy/rabbitmq/definitions.json")
        let committed = try JSONParser.parse(Array(try Data(contentsOf: file)))
        // Compared as text so a failure prints readably.
        #expect(
            committed.text == WalinkTopology.definitions(commandNames: CommandCatalog.names).text,
            "run: walink topology > deploy/rabbitmq/definitions.json")
    }

    @Test func theCatalogIsWhatTheWorkerBinds() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("walink-catalog-\(UUID().uuidString).db").path
        let store = try await SQLiteStore.open(path: path, key: .key(.random()))
        let worker = Worker(
            configuration: WorkerConfiguration(amqp: try TestBroker.configuration(), workerID: "x"), store: store,
            linking: LinkManager.Configuration(link: LinkConfiguration())
        )
        #expect(worker.commandNames == CommandCatalog.names.sorted())
        await store.close()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func commandsQueueIsAQuorumQueueThatDeadLetters() {
        let topology = WalinkTopology.topology(commandNames: ["worker.ping"])
        let queue = topology.queues.first { $0.name == "walink.commands" }
        #expect(queue?.arguments["x-queue-type"]?.stringValue == "quorum")
        #expect(queue?.arguments["x-dead-letter-exchange"]?.stringValue == "walink.dead")
        #expect(queue?.arguments["x-delivery-limit"]?.intValue == WalinkTopology.defaultDeliveryLimit)
        #expect(topology.bindings.contains { $0.exchange == "walink.commands" && $0.routingKey == "worker.ping" })
    }
}

/// What the worker stores for a linked device is enough to log in again.
@Suite struct StoredDeviceTests {
    @Test func theStoredBlobGivesBackTheCredentials() throws {
        let credentials = DeviceCredentials.generate()
        let device = PairedDevice(
            jid: try #require(JID("15550001111:3@s.whatsapp.net")), lid: nil, platform: "android", businessName: nil,
            pairedAt: Date(), credentials: credentials, signedDeviceIdentity: [1, 2, 3], primaryIdentityKey: [UInt8](repeating: 7, count: 32),
            keyIndex: 1, clientProps: nil, preKeys: []
        )
        let blob = StoredDevice.encode(device)
        #expect(try StoredDevice.credentials(from: blob) == credentials)
        #expect(throws: (any Error).self) { try StoredDevice.credentials(from: Data("{\"version\":2}".utf8)) }
    }
}
