import TestRandom

/// The shared seeded generator, under the name this area's tests use.
typealias ProtobufFuzzRandom = SeededRandom
