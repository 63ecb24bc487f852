// A KeyProvider backed by the Android Keystore. The 32-byte key that
// unlocks the core's cache is random, generated once, and stored only
// encrypted (AES-256-GCM) under a non-exportable Keystore key; it is
// decrypted in memory when the core opens.
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
        if (stored != null) {
            val blob = Base64.decode(stored, Base64.NO_WRAP)
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, wrappingKey(), GCMParameterSpec(128, blob, 0, IV_LEN))
            return cipher.doFinal(blob, IV_LEN, blob.size - IV_LEN)
        }
        val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
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
    }
}
