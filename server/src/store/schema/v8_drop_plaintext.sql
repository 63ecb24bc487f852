-- Version 8: the plaintext profile columns, sealed by then, are dropped.
ALTER TABLE users DROP COLUMN full_name;
ALTER TABLE users DROP COLUMN phone;
ALTER TABLE users DROP COLUMN country;
ALTER TABLE users DROP COLUMN language;
ALTER TABLE users DROP COLUMN profession;
ALTER TABLE users DROP COLUMN date_of_birth;
