<?php
/**
 * Modgate_Settings - the plugin's settings: the option the settings page
 * writes, overridden by constants in wp-config.php.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * One option, `modgate_settings`, holds everything the settings page
 * sets. MODGATE_URL, MODGATE_SITE and MODGATE_KEY, when defined in
 * wp-config.php, win over it (as Akismet's WPCOM_API_KEY does), so a site
 * deployed from configuration needs no clicks.
 */
final class Modgate_Settings {

	const OPTION = 'modgate_settings';

	/** Setting => the constant that overrides it. */
	const CONSTANTS = array(
		'url'  => 'MODGATE_URL',
		'site' => 'MODGATE_SITE',
		'key'  => 'MODGATE_KEY',
	);

	/**
	 * The settings and their defaults: 'url' of the modgate service,
	 * 'site' name, 'key' (a cms key of that site), 'ip_header' (the
	 * header a trusted reverse proxy sets to the visitor's address, '' to
	 * use the connection's), 'discard' (1: blatant spam is not stored),
	 * 'decides' (1: modgate decides which comments are published: an
	 * accept is not held back by WordPress's "previously approved" or
	 * link-count rules; Modgate_Comments::wp_publishes()).
	 *
	 * @return array<string, string|int>
	 */
	public static function defaults(): array {
		return array(
			'url'       => '',
			'site'      => '',
			'key'       => '',
			'ip_header' => '',
			'discard'   => 0,
			'decides'   => 1,
		);
	}

	/**
	 * The stored option alone, with the defaults for what it lacks (the
	 * settings page shows and sanitizes this; constants are not in it).
	 *
	 * @return array<string, string|int>
	 */
	public static function stored(): array {
		$o = get_option( self::OPTION, array() );
		if ( ! is_array( $o ) ) {
			$o = array();
		}
		return array_merge( self::defaults(), array_intersect_key( $o, self::defaults() ) );
	}

	/**
	 * The settings in force: the option, overridden by the constants.
	 *
	 * @return array<string, string|int>
	 */
	public static function all(): array {
		$s = self::stored();
		foreach ( self::CONSTANTS as $name => $constant ) {
			if ( self::from_constant( $name ) ) {
				$s[ $name ] = (string) constant( $constant );
			}
		}
		return $s;
	}

	/**
	 * One setting in force.
	 *
	 * @param string $name A key of defaults().
	 * @return string|int
	 */
	public static function get( string $name ) {
		$s = self::all();
		return $s[ $name ] ?? '';
	}

	/**
	 * Whether wp-config.php sets this one (the page then shows it read-only).
	 *
	 * @param string $name url, site or key.
	 */
	public static function from_constant( string $name ): bool {
		return isset( self::CONSTANTS[ $name ] ) && defined( self::CONSTANTS[ $name ] )
			&& is_scalar( constant( self::CONSTANTS[ $name ] ) ) && '' !== (string) constant( self::CONSTANTS[ $name ] );
	}

	/** Whether there is enough to call modgate: a URL, a site and a key. */
	public static function configured(): bool {
		$s = self::all();
		return '' !== $s['url'] && '' !== $s['site'] && '' !== $s['key'];
	}

	/**
	 * A key as the settings page may show it: never in full, only its
	 * last four characters (enough to tell two keys apart).
	 *
	 * @param string $key The key.
	 */
	public static function masked_key( string $key ): string {
		if ( '' === $key ) {
			return '';
		}
		return str_repeat( '•', 8 ) . ( strlen( $key ) > 12 ? substr( $key, -4 ) : '' );
	}
}
