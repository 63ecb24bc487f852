// Gradle build of the Android library (needs the Android SDK and NDK, and
// `cargo install cargo-ndk`). The JVM tests in jvm-tests/ use Maven instead
// and run on any machine with a JDK.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "praxis-android"
include(":praxis")
