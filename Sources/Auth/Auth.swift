/// Who is calling: login JWTs verified against a JWKS, and API keys.
public enum AuthModule {}
