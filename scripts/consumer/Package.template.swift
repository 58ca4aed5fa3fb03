// swift-tools-version: 6.0
// A throw-away app that depends on bffn the way an app author does: by git URL and version (scripts/check-consumer.sh
// fills in the URL of a tagged temporary clone).
import PackageDescription

let package = Package(
    name: "bffn-consumer",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "@BFFN_URL@", from: "@BFFN_VERSION@"),
    ],
    targets: [
        .executableTarget(name: "bffn-consumer", dependencies: [
            .product(name: "BFFN", package: "bffn"),
        ]),
    ]
)
