// swift-tools-version:5.10
// The Praxis core for Swift: the Rust library, the uniffi-generated Swift
// (the bindings and the wire types they use, both in `PraxisFFI`;
// `nonisolated(unsafe)` needs tools 5.10) and the idiomatic wrapper.
//
// Apple platforms link the XCFramework `cargo xtask swift` builds on macOS
// (iOS device, iOS simulator and macOS slices, so `swift test` runs on a
// Mac). Elsewhere (Linux) the C module is a system library: the generated
// headers and a module map that links `praxis_ffi`, which `cargo xtask
// swift-test` writes to Sources/PraxisFFIC before running `swift test`
// against the host-built library and real servers.
import PackageDescription

#if canImport(Darwin)
let ffi: Target = .binaryTarget(name: "PraxisFFIC", path: "PraxisFFIC.xcframework")
#else
let ffi: Target = .systemLibrary(name: "PraxisFFIC", path: "Sources/PraxisFFIC")
#endif

let package = Package(
    name: "Praxis",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Praxis", targets: ["Praxis"]),
    ],
    targets: [
        ffi,
        .target(name: "PraxisFFI", dependencies: ["PraxisFFIC"], path: "Sources/PraxisFFI"),
        .target(name: "Praxis", dependencies: ["PraxisFFI"], path: "Sources/Praxis"),
        .testTarget(name: "PraxisTests", dependencies: ["Praxis"], path: "Tests/PraxisTests"),
    ]
)
