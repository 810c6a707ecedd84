// swift-tools-version:6.2
import PackageDescription

// The NIO pieces of a TLS WebSocket client or server (WhatsApp link, simulator, their tests).
let webSocketStack: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
    .product(name: "NIOWebSocket", package: "swift-nio"),
    .product(name: "NIOSSL", package: "swift-nio-ssl"),
]

// Settings every walink target gets (see the loop at the bottom): upcoming language features, and
// warnings as errors, so a warning never lingers. Dependencies' warnings are not ours to fix (SwiftPM
// ignores these settings for them).
let sharedSwiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "walink",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "walink", targets: ["walink"]),
        .executable(name: "walink-bench", targets: ["WalinkBench"]),
        .library(name: "WhatsAppProtocol", targets: ["WhatsAppProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.28.0"),
        .package(url: "https://github.com/attaswift/BigInt.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // MARK: - C libraries from the system (Debian -dev packages, installed by scripts/setup)

        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // MARK: - Messaging

        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: - WhatsApp protocol (pure, no I/O)

        .target(
            name: "WhatsAppProtocol",
            dependencies: [
                "CSodium",
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "BigInt", package: "BigInt"),
            ],
            exclude: ["Protos"]
        ),

        // MARK: - WhatsApp I/O: the linking client and the simulator

        .target(
            name: "WhatsAppLink",
            dependencies: [
                "WhatsAppProtocol"
            ] + webSocketStack + [
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        .target(
            name: "WhatsAppSimulator",
            dependencies: [
                "WhatsAppProtocol"
            ] + webSocketStack + [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Sessions, credentials and callers

        .target(name: "JSON"),

        .target(
            name: "Store",
            dependencies: [
                "CSQLite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fleet's store, in a target of its own so that what needs only SQLite does not wait for postgres-nio.
        .target(
            name: "StorePostgres",
            dependencies: [
                "Store",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Which store a configuration opens: the one place that knows every implementation.
        .target(
            name: "StoreFactory",
            dependencies: [
                "Store",
                "StorePostgres",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Auth",
            dependencies: [
                "JSON",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - The worker: envelope, command handlers, events

        .target(
            name: "Gateway",
            dependencies: [
                "JSON",
                "AMQP",
                "Store",
                "Auth",
                "WhatsAppLink",
                "WhatsAppProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: - Programs

        .executableTarget(
            name: "walink",
            dependencies: [
                "Gateway",
                "AMQP",
                "Store",
                "StoreFactory",
                "Auth",
                "WhatsAppLink",
                "WhatsAppProtocol",
                "WhatsAppSimulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "WalinkBench",
            dependencies: [
                "AMQP",
                "CRabbitMQ",
                "Gateway",
                "Store",
                "StorePostgres",
                "StoreFactory",
                "Auth",
                "WhatsAppLink",
                "WhatsAppProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Tests

        .testTarget(
            name: "WhatsAppProtocolTests",
            dependencies: [
                "WhatsAppProtocol",
                "TestRandom",
                "TestVectors",
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(name: "TestRandom", path: "Tests/TestRandom"),
        // Locates the third-party vectors in Tests/Vectors (data only, no target of its own).
        .target(name: "TestVectors", path: "Tests/TestVectors"),
        .target(
            name: "WalinkTestSupport",
            dependencies: [
                "AMQP",
                "Gateway",
                "Store",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/WalinkTestSupport"
        ),
        .testTarget(
            name: "AMQPTests",
            dependencies: ["AMQP", "WalinkTestSupport", "TestRandom"]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway",
                "TestRandom",
                "AMQP",
                "Store",
                "StoreFactory",
                "Auth",
                "WhatsAppLink",
                "WhatsAppProtocol",
                "WhatsAppSimulator",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "WalinkTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "JSONTests",
            dependencies: ["JSON"]
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "Store",
                "StorePostgres",
                "StoreFactory",
                "WalinkTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "AuthTests",
            dependencies: [
                "Auth",
                "JSON",
                "TestRandom",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "WhatsAppLinkTests",
            dependencies: [
                "WhatsAppLink",
                "WhatsAppProtocol",
                "TestRandom",
                "TestVectors",
            ] + webSocketStack + [
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        .testTarget(
            name: "WhatsAppSimulatorTests",
            dependencies: [
                "WhatsAppSimulator",
                "WhatsAppProtocol",
                "WhatsAppLink",
            ] + webSocketStack + [
                .product(name: "Logging", package: "swift-log")
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + sharedSwiftSettings
}
