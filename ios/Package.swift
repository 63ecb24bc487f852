// swift-tools-version:5.9
// The Praxis core for iOS: the Rust library as an XCFramework (built by
// `cargo xtask swift` on macOS), the uniffi-generated Swift, and the
// idiomatic wrapper. Not compiled on the project's Linux machines.
import PackageDescription

let package = Package(
    name: "Praxis",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Praxis", targets: ["Praxis"]),
    ],
    targets: [
        .binaryTarget(name: "PraxisFFIC", path: "PraxisFFI.xcframework"),
        .target(name: "PraxisFFI", dependencies: ["PraxisFFIC"], path: "Sources/PraxisFFI"),
        .target(name: "Praxis", dependencies: ["PraxisFFI"], path: "Sources/Praxis"),
        .testTarget(name: "PraxisTests", dependencies: ["Praxis"], path: "Tests/PraxisTests"),
    ]
)
