"""WeChat Pay (API v3), reached only through wechatpayv3's async client behind an adapter of our own."""
