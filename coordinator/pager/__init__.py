"""Paged SELECT: the select path, the paging state cookie, the page builder and result rows (ScyllaDB's service/pager/)."""
