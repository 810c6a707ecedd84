import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with its output in a file; returns its exit status.
///
/// posix_spawn + waitpid rather than Foundation's `Process`, whose exit detection was seen to miss
/// the exit of a script that had started a daemon (the broker), hanging the test.
public func runProgram(_ path: String, _ arguments: [String], environment: [String: String], outputFile: String) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)

    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
    guard spawned == 0 else { throw BrokerControlError(message: "cannot start \(path): errno \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        guard errno == EINTR else { throw BrokerControlError(message: "waitpid failed: errno \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// ``runProgram(_:_:environment:outputFile:)`` on a thread of its own, so the waiting never blocks
/// a thread of Swift's cooperative pool (one per core), which in-process workers need meanwhile.
public func runProgramInBackground(
    _ path: String,
    _ arguments: [String],
    environment: [String: String],
    outputFile: String
) async throws -> Int32 {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try runProgram(path, arguments, environment: environment, outputFile: outputFile) })
        }
        thread.start()
    }
}

/// Runs one of the package's scripts (`scripts/…`) to completion, off the cooperative pool; throws
/// with its output when it fails.
public func runScript(
    _ script: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment
) async throws {
    let path = TestBroker.packageRoot.appendingPathComponent(script).path
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("walink-script-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: log) }
    let status = try await runProgramInBackground(path, arguments, environment: environment, outputFile: log.path)
    guard status == 0 else {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw BrokerControlError(message: "\(script) \(arguments.joined(separator: " ")) failed (\(status)): \(text)")
    }
}

/// Runs `body` between `start` and `stop`, stopping also when `body` throws (its error then wins
/// over the stop's): private brokers, clusters, databases and networks a test sets up and removes.
public func withStarted<Result: Sendable>(
    start: () async throws -> Void, stop: () async throws -> Void, _ body: () async throws -> Result
) async throws -> Result {
    try await start()
    let result: Result
    do {
        result = try await body()
    } catch {
        try? await stop()
        throw error
    }
    try await stop()
    return result
}
