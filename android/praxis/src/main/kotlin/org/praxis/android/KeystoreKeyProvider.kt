// A KeyProvider backed by the Android Keystore. The 32-byte key that
// unlocks the core's cache is random, generated once, and stored only
// encrypted (AES-256-GCM) under a non-exportable Keystore key; it is
// decrypted in memory when the core opens.
//
// Keystore keys are never backed up. If a backup (Auto Backup, a device
// transfer) restores the wrapped key without the Keystore key that
// unwraps it, the wrapped key is useless: it is dropped and a new key made,
// so the restored cache reports KeyMismatch at open, and
// `Praxis.open(..., resetOnKeyMismatch = true)` starts again (the user signs
// in, the server's copy syncs back). Any other failure is thrown, never a
// reason to replace a key that may still open the data. Apps should also
// exclude the data directory and the "praxis-keys" preferences from backup.
package org.praxis.android

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.praxis.KeyProvider

class KeystoreKeyProvider(context: Context, private val alias: String = "praxis-cache-kek") : KeyProvider {
    private val prefs = context.getSharedPreferences("praxis-keys", Context.MODE_PRIVATE)
    private val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    @Synchronized
    override fun key(): ByteArray {
        val stored = prefs.getString(alias, null)
        if (stored != null && keyStore.containsAlias(alias)) {
            val blob = Base64.decode(stored, Base64.NO_WRAP)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(128, blob, 0, IV_LEN))
            val key = cipher.doFinal(blob, IV_LEN, blob.size - IV_LEN)
            check(key.size == KEY_LEN) { "the stored key is not $KEY_LEN bytes" }
            return key
        }
        // Nothing stored, or a wrapped key restored from a backup without
        // its Keystore key (which no backup carries): a new key.
        val key = ByteArray(KEY_LEN).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        val blob = cipher.iv + cipher.doFinal(key)
        check(prefs.edit().putString(alias, Base64.encodeToString(blob, Base64.NO_WRAP)).commit()) {
            "could not store the wrapped key"
        }
        return key
    }

    @Synchronized
    override fun forget() {
        prefs.edit().remove(alias).commit()
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun wrappingKey(): SecretKey {
        (keyStore.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_LEN = 12
        const val KEY_LEN = 32
    }
}
