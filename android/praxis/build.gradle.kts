// The Praxis Android library: the Rust core (built with cargo-ndk for
// arm64-v8a and x86_64), its uniffi-generated Kotlin, and the idiomatic
// wrapper shared with the JVM tests (../shared).
import org.gradle.api.tasks.Exec

plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootDir.parentFile
val jniOut = layout.buildDirectory.dir("generated/jniLibs")
val bindingsOut = layout.buildDirectory.dir("generated/uniffi")

android {
    namespace = "org.praxis"
    compileSdk = 35
    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].apply {
        java.srcDirs("../shared/src/main/kotlin", bindingsOut)
        jniLibs.srcDirs(jniOut)
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}

// Cross-compiles the core for devices and emulators with the size-tuned
// `mobile` profile (LTO, one codegen unit, opt-level "s", stripped).
// `--platform` links against the API level of minSdk (cargo-ndk's default
// is older); the 16 KB page alignment Android 15 needs is set for both
// targets in .cargo/config.toml.
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a",
        "-t", "x86_64",
        "--platform", android.defaultConfig.minSdk.toString(),
        "-o", jniOut.get().asFile.absolutePath,
        "build", "-p", "praxis-ffi", "--profile", "mobile",
    )
}

// Generates the Kotlin bindings from the host library (library mode), with
// the in-repo uniffi-bindgen pinned to the workspace's uniffi version.
// The bindings land under CARGO_TARGET_DIR when the build sets one.
val cargoTarget = System.getenv("CARGO_TARGET_DIR")?.let(::File) ?: File(repoRoot, "target")
val uniffiBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("cargo", "xtask", "bindings")
    doLast {
        copy {
            from(File(cargoTarget, "bindings/kotlin"))
            into(bindingsOut)
        }
    }
}

tasks.named("preBuild") {
    dependsOn(cargoNdk, uniffiBindings)
}
