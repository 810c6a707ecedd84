import ArgumentParser
import Foundation
import Gateway
import Logging
import Store

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apikey",
        abstract: "Create, list and revoke API keys (stored only as hashes).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it once; it cannot be shown again.")

        @Option(help: "The organization the key acts for.")
        var org: String

        @Option(name: .customLong("perm"), help: "A permission (repeatable); `manage` allows the session commands.")
        var permissions: [String] = []

        @Option(help: "A name to tell keys apart.")
        var name: String?

        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard !permissions.isEmpty else { throw ValidationError("give at least one --perm, e.g. --perm manage") }
            let store = try await store.open(logger: quietLogger())
            do {
                let created = try await store.createAPIKey(organization: org, name: name, permissions: Set(permissions))
                print(created.key)
                FileHandle.standardError.write(
                    Data(
                        """
                        created \(created.record.id) for \(org) with \(created.record.permissions.sorted().joined(separator: ",")).
                        This is the only time the key is shown: store it now.\n
                        """.utf8))
            } catch {
                await store.close()
                throw SettingsError(message: error.message)
            }
            await store.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List an organization's keys (never the keys themselves).")

        @Option(help: "The organization.")
        var org: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let store = try await store.open(logger: quietLogger())
            do {
                let keys = try await store.listAPIKeys(organization: org)
                for key in keys {
                    let line: JSONValue = [
                        "id": .string(key.id), "prefix": .string("wlk_\(key.displayPrefix)…"), "name": key.name.map(JSONValue.string) ?? .null,
                        "permissions": .array(key.permissions.sorted().map(JSONValue.string)),
                        "createdAt": .string(key.createdAt.walinkTimestamp),
                        "revokedAt": key.revokedAt.map { .string($0.walinkTimestamp) } ?? .null,
                    ]
                    print(line.text)
                }
            } catch {
                await store.close()
                throw SettingsError(message: error.message)
            }
            await store.close()
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id (key_...); calls with it get 401 from then on.")

        @Argument(help: "The key's id, as `walink apikey list` shows it.")
        var id: String

        @Option(help: "The organization the key belongs to.")
        var org: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let store = try await store.open(logger: quietLogger())
            do {
                let key = try await store.revokeAPIKey(organization: org, id: id)
                print("revoked \(key.id)")
            } catch {
                await store.close()
                throw SettingsError(message: error.code == .notFound ? "no key \(id) in \(org)" : error.message)
            }
            await store.close()
        }
    }
}

private func quietLogger() -> Logger {
    var logger = Logger(label: "walink.apikey")
    logger.logLevel = .warning
    return logger
}
